"""The CLI's text for a job's result panel (the JSON itself is printed unchanged with --json)."""

from ssnas_client.render import job_text, result_lines
from ssnas_client.types import Job

RESULT = {"test_metrics": {"weighted_f1@sel": 0.41}, "modalities_read": ["image"],
          "verdict": {"weighted_f1": {"key": "weighted_f1@sel", "model": 0.41, "best_baseline": "probe_concat",
                                      "best_value": 0.45, "beats": ["all_labels"], "loses_to": ["probe_concat"]}},
          "warnings": ["the model does not beat probe_concat"]}


def test_result_lines_name_the_verdict_and_warnings():
    text = "\n".join(result_lines(RESULT))
    assert "weighted_f1@sel: model 0.41 vs best baseline probe_concat 0.45" in text
    assert "loses to probe_concat" in text and "warning  the model does not beat probe_concat" in text
    assert "reads    image" in text


def test_job_text_shows_no_eta_once_finished():
    base = {"id": "j", "dataset_id": "d", "status": "succeeded", "stage": "done", "progress": 1.0, "eta_s": None,
            "attempt": 1, "max_attempts": 3, "error": None, "cancel_requested": False, "queue": "cpu",
            "spec": {"method": "ssl"}, "created_at": "", "updated_at": "", "model_id": "m", "result": RESULT}
    text = job_text(Job.from_json(base))
    assert "ETA" not in text and "verdict" in text
    assert "ETA 1:05" in job_text(Job.from_json({**base, "status": "running", "eta_s": 65.0, "result": None}))
