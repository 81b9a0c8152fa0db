"""Diagnosis engine: frames + task -> VLM answer -> parsed diagnosis + keyframe with symbols."""

from vifailback_demo.diagnosis.diagnoser import Diagnoser
from vifailback_demo.diagnosis.output import write_diagnosis
from vifailback_demo.diagnosis.result import Diagnosis

__all__ = ["Diagnoser", "Diagnosis", "write_diagnosis"]
