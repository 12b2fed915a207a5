"""De-identification of every DICOM file ``analyze`` writes: the DICOM PS3.15 Basic Application Level Confidentiality Profile.

The profile's attribute table (PS3.15 Table E.1-1, edition 2026c) and its
per-attribute actions (remove, empty, replace with a dummy) come from the
``dicom-anonymizer`` package, which generates them from the standard; no
tag list is written here.  This module adds what the library leaves to its
user, because a SEG must stay a valid SEG of its map:

- UIDs (the profile's ``U`` attributes) are replaced by keyed hashes
  (pydicom's :func:`~pydicom.uid.generate_uid` over the run's secret and the
  original UID), so one original UID gives the same new UID in every file
  of a run, and a SEG references the de-identified copy of its map;
- the actions apply inside every sequence item too (the library only
  visits the top level), and a sequence whose action is ``X/Z/U*`` (source
  and referenced images) keeps its items with their UIDs replaced, as the
  standard allows where the IOD needs the reference (and their purpose of
  reference code and SpatialLocationsPreserved, which a SEG's frames need);
- every private attribute is removed;
- ``keep_dates`` is the Retain Longitudinal Temporal Information with Full
  Dates Option: the dates and times of the study, its series and images are
  kept as they are; the patient's own (birth date and time) are not.

The patient's name and ID become the run's anonymous label.
"""

from __future__ import annotations

import hashlib
import secrets

from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from myomap.analyze.names import keyed_hash

EDITION = "dicomfields_2026c"  # the edition of PS3.15 Table E.1-1 in dicom-anonymizer
_DATE_VRS = ("DA", "DT", "TM")
_PATIENT_GROUP = 0x0010  # the patient's own dates (birth, last menstrual date): the Full Dates Option keeps none of them
_REFERENCE_VRS = ("UI", "IS", "US", "UL", "SS", "SL")  # what an image reference needs: UIDs, frame and segment numbers
# Coded and never identifying; a SEG's frame references need them (the Derivation Image macro asks for the purpose
# code, and without SpatialLocationsPreserved highdicom will not index the SEG's frames by their source image).
_REFERENCE_KEYWORDS = ("PurposeOfReferenceCodeSequence", "SpatialLocationsPreserved")


def new_secret() -> str:
    """A random secret for a key file (hex, 256 bits)."""
    return secrets.token_hex(32)


def secret_from(values: list[str]) -> str:
    """A secret only the holder of the inputs can know: a hash of the original UIDs of a run's maps.

    Used when no key file is given, so a resumed run hashes exactly as the
    first one did, while the shared output alone does not let anyone test a
    guessed UID or path against the hashes.
    """
    return hashlib.sha256("\n".join(sorted(values)).encode()).hexdigest()


class Deidentifier:
    """Applies the Basic Profile to datasets, remapping UIDs consistently under one secret.

    ``uids`` collects every original -> new UID mapping made (for the key file).
    """

    def __init__(self, secret: str, *, keep_dates: bool = False) -> None:
        from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
        from dicomanonymizer.simpledicomanonymizer import initialize_actions

        self._secret = secret
        self.keep_dates = keep_dates
        self.uids: dict[str, str] = {}
        self._remap_uids = True
        tags = dicom_anonymization_database_selector(EDITION)
        actions = initialize_actions(EDITION)
        actions.update({tag: self._replace_uid for tag in tags["U_TAGS"]})
        actions.update({tag: self._keep_references for tag in tags["X_Z_U_STAR_TAGS"]})
        self._exact = {tag: action for tag, action in actions.items() if len(tag) == 2}
        self._masked = [(tag, action) for tag, action in actions.items() if len(tag) == 4]  # repeating groups (50xx, 60xx)

    def remap(self, uid: str) -> str:
        """The new UID of ``uid`` (the same for the same secret, in every file and every process)."""
        if uid not in self.uids:
            self.uids[uid] = generate_uid(entropy_srcs=[self._secret, uid])
        return self.uids[uid]

    def reference(self, text: str) -> str:
        """A short keyed hash of ``text`` (e.g. a source path) that names it without revealing it."""
        return keyed_hash(self._secret, text)

    def apply(self, ds: Dataset, label: str, *, uids: bool = True) -> Dataset:
        """De-identify ``ds`` in place (and its file meta) and name the patient ``label``; returns ``ds``.

        ``uids=False`` leaves the UIDs as they are: for an object built from
        already de-identified sources, whose UIDs must not be remapped twice.
        """
        self._remap_uids = uids
        self._clean(ds, set())
        ds.remove_private_tags()
        ds.PatientName = f"{label}^"
        ds.PatientID = label
        ds.PatientIdentityRemoved = "YES"
        profile = [codes.DCM.BasicApplicationConfidentialityProfile]
        if self.keep_dates:
            profile.append(codes.DCM.RetainLongitudinalTemporalInformationFullDatesOption)
        ds.DeidentificationMethod = "myomap: PS3.15 Basic Profile" + (", Full Dates Option" if self.keep_dates else "")
        ds.DeidentificationMethodCodeSequence = [_code_item(code) for code in profile]
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        return ds

    def _clean(self, ds: Dataset, seen: set[int]) -> None:
        if id(ds) in seen:  # highdicom puts one item object into several sequences: clean it once
            return
        seen.add(id(ds))
        for element in list(ds):  # the items first: a parent's action may replace a whole sequence
            if element.VR == "SQ":
                for item in element.value:
                    self._clean(item, seen)
        for element in list(ds):
            action = self._action(element.tag)
            if action is None or (self.keep_dates and element.VR in _DATE_VRS and element.tag.group != _PATIENT_GROUP):
                continue
            action(ds, (element.tag.group, element.tag.element))

    def _action(self, tag):
        action = self._exact.get((tag.group, tag.element))
        if action is None:
            for (group, elem, group_mask, elem_mask), masked in self._masked:
                if tag.group & group_mask == group & group_mask and tag.element & elem_mask == elem & elem_mask:
                    return masked
        return action

    def _replace_uid(self, ds: Dataset, tag) -> None:
        element = ds.get(tag)
        if element is None or not element.value or (element.VR == "UI" and not self._remap_uids):
            return
        if element.VR == "UI":
            value = element.value
            element.value = (
                [self.remap(v) for v in value] if isinstance(value, (list, tuple)) or hasattr(value, "append") else self.remap(value)
            )
        else:
            del ds[tag]

    def _keep_references(self, ds: Dataset, tag) -> None:
        """``X/Z/U*``: a sequence keeps of its items only the (already replaced) UIDs, numbers (frame numbers) and the reference's codes."""
        element = ds.get(tag)
        if element is None:
            return
        if element.VR != "SQ":
            self._replace_uid(ds, tag)
            return
        for item in element.value:
            for inner in list(item):
                if inner.VR not in _REFERENCE_VRS and inner.keyword not in _REFERENCE_KEYWORDS:
                    del item[inner.tag]


def _code_item(code) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code.value, code.scheme_designator, code.meaning
    return item
