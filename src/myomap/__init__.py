"""myomap: LV myocardium segmentation and T1/T2 quantification on cardiac MR mapping images."""

__version__ = "0.1.0"
