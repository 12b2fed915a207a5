"""Field strength, sequence, heart rate and contrast agent from headers written the way vendors write them."""

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from myomap.io.context import ScanContext, scan_context
from myomap.io.nifti import sidecar_context


def _ds(**tags) -> Dataset:
    ds = Dataset()
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return ds


def _item(**tags) -> Dataset:
    return _ds(**tags)


@pytest.mark.parametrize(
    "tags, sequence",
    [
        ({"SeriesDescription": "MOLLI_5(3)3_SAX_MOCO_T1", "SequenceName": "*tfi2d1_192"}, "MOLLI"),
        ({"SeriesDescription": "T1map_SAX_5s(3s)3s", "SequenceName": "*tfi2d1_192"}, "MOLLI"),  # the scheme alone
        ({"SeriesDescription": "post_MOLLI_4s(1s)3s(1s)2s_256"}, "MOLLI"),
        ({"SeriesDescription": "T1 SAX", "ProtocolName": "ShMOLLI_192i_SAX"}, "ShMOLLI"),
        ({"SeriesDescription": "T1 SAX 5(1)1(1)1"}, ""),  # ShMOLLI's scheme without its name: not called MOLLI
        ({"SeriesDescription": "SASHA_T1_SAX_mid"}, "SASHA"),
        ({"SeriesDescription": "SAPPHIRE T1 map"}, "SAPPHIRE"),
        ({"SeriesDescription": "SMART1Map_SAX"}, "SMART1Map"),
        ({"SeriesDescription": "T2prep_bSSFP_SAX_T2MAP"}, "T2-prep"),
        ({"SeriesDescription": "T2 map GraSE SAX"}, "GraSE"),
        ({"SeriesDescription": "T1MAP_SAX4_MOCO_T1_0018", "SequenceName": "*tfi2d1_192"}, ""),  # the header does not say
        ({"SeriesDescription": "T2 MAP", "ImageComments": "T2 prep. duration = 55 ms"}, "T2-prep"),
    ],
)
def test_sequence_as_far_as_the_header_tells(tags, sequence):
    assert scan_context(_ds(**tags)).sequence == sequence


@pytest.mark.parametrize(
    "tags, field_t",
    [
        ({"MagneticFieldStrength": "2.89362"}, 2.89362),  # Siemens 3 T
        ({"MagneticFieldStrength": "1.494"}, 1.494),  # Siemens 1.5 T
        ({"MagneticFieldStrength": "1.5"}, 1.5),  # Philips, GE
        ({"ImagingFrequency": "127.7663"}, 3.0),  # no field strength: the proton frequency tells it
        ({"ImagingFrequency": "63.68"}, 1.5),
        ({"MagneticFieldStrength": "15000", "ImagingFrequency": "63.86"}, 1.5),  # gauss, and the frequency agrees
        ({"MagneticFieldStrength": "15000"}, 1.5),  # legacy GE writes gauss
        ({"MagneticFieldStrength": "30000"}, 3.0),
        ({"MagneticFieldStrength": 30000}, 3.0),
        ({"MagneticFieldStrength": "500"}, None),  # neither tesla nor a plausible field in gauss
        ({"MagneticFieldStrength": "0"}, None),
        ({}, None),
    ],
)
def test_field_strength(tags, field_t):
    assert scan_context(_ds(**tags)).field_strength_t == field_t


def test_heart_rate_from_heart_rate_else_the_r_r_interval():
    assert scan_context(_ds(HeartRate="64")).heart_rate_bpm == 64.0
    # A vendor's 0 is no rate: the average R-R interval (NominalInterval, ms) gives it.
    assert scan_context(_ds(HeartRate="0", NominalInterval="923")).heart_rate_bpm == 65.0
    assert scan_context(_ds(CardiacRRIntervalSpecified=750.0)).heart_rate_bpm == 80.0
    enhanced = _ds(
        SharedFunctionalGroupsSequence=DicomSequence(
            [
                _item(
                    CardiacSynchronizationSequence=DicomSequence([_item(RRIntervalTimeNominal=800.0, NominalCardiacTriggerDelayTime=350.0)])
                )
            ]
        )
    )
    assert scan_context(enhanced).heart_rate_bpm == 75.0
    # TriggerTime is the delay after the R wave, not a rate; implausible values are not taken.
    assert scan_context(_ds(TriggerTime="450", HeartRate="0", NominalInterval="0")).heart_rate_bpm is None
    assert scan_context(_ds(HeartRate="600")).heart_rate_bpm is None


def test_contrast_agent_from_classic_and_enhanced_headers():
    assert scan_context(_ds(ContrastBolusAgent="Gadovist")).contrast_agent == "Gadovist"
    coded = _ds(ContrastBolusAgentSequence=DicomSequence([_item(CodeValue="C-B0306", CodeMeaning="Gadobutrol")]))
    assert scan_context(coded).contrast_agent == "Gadobutrol"
    usage = _ds(
        PerFrameFunctionalGroupsSequence=DicomSequence(
            [_item(ContrastBolusUsageSequence=DicomSequence([_item(ContrastBolusAgentNumber=1, ContrastBolusAgentAdministered="YES")]))]
        )
    )
    assert scan_context(usage).contrast_agent == "administered"
    not_given = _ds(
        PerFrameFunctionalGroupsSequence=DicomSequence(
            [_item(ContrastBolusUsageSequence=DicomSequence([_item(ContrastBolusAgentNumber=1, ContrastBolusAgentAdministered="NO")]))]
        )
    )
    assert scan_context(not_given).contrast_agent == ""
    listed_not_given = _ds(
        ContrastBolusAgentSequence=coded.ContrastBolusAgentSequence,
        PerFrameFunctionalGroupsSequence=not_given.PerFrameFunctionalGroupsSequence,
    )
    assert scan_context(listed_not_given).contrast_agent == ""
    listed_given = _ds(
        ContrastBolusAgentSequence=coded.ContrastBolusAgentSequence, PerFrameFunctionalGroupsSequence=usage.PerFrameFunctionalGroupsSequence
    )
    assert scan_context(listed_given).contrast_agent == "Gadobutrol"


def test_times_and_names_are_kept_apart():
    context = scan_context(
        _ds(SeriesDescription="MOLLI_SAX_MOCO_T1", ProtocolName="MOLLI_post", AcquisitionTime="104512", ContrastBolusStartTime="103000.00")
    )
    assert (context.description, context.protocol_name) == ("MOLLI_SAX_MOCO_T1", "MOLLI_post")
    assert (context.acquisition_time_s, context.contrast_start_s) == (38712.0, 37800.0)


def test_a_nifti_sidecar_is_read_like_a_header_and_odd_values_are_ignored():
    context = sidecar_context(
        {"SeriesDescription": "MOLLI post", "MagneticFieldStrength": 1.5, "AcquisitionDateTime": "2020-01-01T10:15:30.5", "HeartRate": 64}
    )
    assert (context.field_strength_t, context.sequence, context.acquisition_time_s, context.heart_rate_bpm) == (1.5, "MOLLI", 36930.5, 64.0)
    odd = sidecar_context(
        {"MagneticFieldStrength": True, "ContrastBolusAgent": True, "ImagingFrequency": 10**400, "ContrastBolusAgentSequence": "Gd"}
    )
    assert odd == ScanContext()  # a bool is no field or agent, a huge number no frequency, a sequence's text is not read
