"""Lie monitors: fitted on labelled dialogues, calibrated on honest controls, scoring new answers.

A :class:`Dialogue` is the messages before an assistant's answer plus the answer; a monitor reads
only what its recipe reads (answer tokens, or follow-up log-probabilities) and scores each answer
(higher = more likely a lie). Recipes:

- :class:`InstructedPairsMonitor` (``instructed_pairs``): a per-token probe on the same true answers
  said under honest and deceptive instructions (:func:`instructed_pairs`);
- :class:`OnPolicyMonitor` (``on_policy``): the same probe fitted on a model's own lies;
- :class:`FollowUpMonitor` (``follow_up``): yes/no follow-up questions, black-box;
- :class:`SelfReportMonitor` (``self_report``): the model asked whether its answer was true;
- :class:`ConsistencyMonitor` (``consistency``): how unlike the model's answer to the question asked
  plainly (no system prompt, no earlier turns) the answer is, black-box, nothing fitted;
- baselines that read the fact, not the intent: :class:`StatementMonitor` (``statement``) and
  :class:`AnswerFormatMonitor` (``answer_format``), a truth probe at the answer's last token.

Example:
    >>> from veracity.monitors import Dialogue, InstructedPairsMonitor, instructed_pairs
    >>> lie_monitor = InstructedPairsMonitor().fit(model, instructed_pairs(qa_pairs), validation=real_lies)
    >>> lie_monitor.calibrate(model, control_answers, fpr=0.01).flag(model, suspects)
"""

from veracity.monitors.black_box import (
    FOLLOW_UPS,
    SELF_REPORT,
    ConsistencyMonitor,
    FollowUpMonitor,
    SelfReportMonitor,
    answer_surprise,
    asked_plainly,
    follow_up_log_odds,
    yes_minus_no,
)
from veracity.monitors.dialogue import Dialogue, answer_tokens, prompt_text
from veracity.monitors.live import LiveScores, monitor
from veracity.monitors.monitor import MONITORS, LieMonitor, load_monitor
from veracity.monitors.probe_monitor import (
    DECEPTIVE,
    HONEST,
    AnswerProbeMonitor,
    InstructedPairsMonitor,
    OnPolicyMonitor,
    instructed_pairs,
)
from veracity.monitors.reading import answer_activations, remembered_reads
from veracity.monitors.truth_monitor import AnswerFormatMonitor, StatementMonitor, TruthProbeMonitor

__all__ = ["DECEPTIVE", "FOLLOW_UPS", "HONEST", "MONITORS", "SELF_REPORT", "AnswerFormatMonitor", "AnswerProbeMonitor",
           "ConsistencyMonitor", "Dialogue", "FollowUpMonitor", "InstructedPairsMonitor", "LieMonitor", "LiveScores", "OnPolicyMonitor",
           "SelfReportMonitor", "StatementMonitor", "TruthProbeMonitor", "answer_activations", "answer_surprise",
           "answer_tokens", "asked_plainly",
           "follow_up_log_odds", "instructed_pairs", "load_monitor", "monitor", "prompt_text", "remembered_reads", "yes_minus_no"]
