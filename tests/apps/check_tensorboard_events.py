"""Reads nkd_distill's TensorBoard event files (<work_dir>/tf_logs) back with TensorBoard's own
EventAccumulator and checks them against the work dir's JSON lines: every number of every record
as a scalar at the record's global iteration (each step once, the latest run's value where a
resumed run logged a step again), the config as text.

usage: check_tensorboard_events.py WORK_DIR [REFERENCE_WORK_DIR] [EVENT_FILES]
With a reference (an uninterrupted run of the same config), the resumed run's losses, learning rate
and accuracies equal the reference's at every step both logged. EVENT_FILES: the number of event
files expected (one per run into the work dir)."""
import glob
import json
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

REQUIRED = ["train/loss", "learning_rate", "train/images_per_s", "train/data_time", "train/time",
            "train/memory_mb", "train/epoch_time", "val/accuracy_top-1", "val/accuracy_top-5"]
TIMING = ("train/time", "train/data_time", "train/images_per_s", "train/memory_mb", "train/epoch_time",
          "val/seconds")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def expected_scalars(work_dir):
    """tag -> {step: value} from the JSON lines, as train/train_log.cpp maps them."""
    out, step = {}, 0
    for path in sorted(glob.glob(os.path.join(work_dir, "*.log.jsonl"))):
        for line in open(path):
            rec = json.loads(line)
            mode = rec.get("mode", "")
            step = rec.get("global_iter", step)
            for key, value in rec.items():
                if key in ("mode", "epoch", "iter", "global_iter") or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                tag = f"{mode}/{key}"
                if mode == "train" and key == "lr":
                    tag = "learning_rate"
                if mode == "epoch":
                    tag = "train/epoch_time" if key == "seconds" else f"train/epoch_{key}"
                out.setdefault(tag, {})[step] = value
    return out


def read_events(work_dir):
    acc = EventAccumulator(os.path.join(work_dir, "tf_logs"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    return acc, scalars


def check(work_dir, reference=None, event_files=None):
    errors = []
    files = sorted(glob.glob(os.path.join(work_dir, "tf_logs", "events.out.tfevents.*")))
    if event_files is not None and len(files) != event_files:
        errors.append(f"{len(files)} event files, expected {event_files}: {files}")
    acc, scalars = read_events(work_dir)
    expected = expected_scalars(work_dir)
    for tag in REQUIRED:
        if tag not in scalars:
            errors.append(f"no scalar {tag} (tags: {sorted(scalars)})")
    if sorted(scalars) != sorted(expected):
        errors.append(f"tags {sorted(scalars)} != the JSON lines' {sorted(expected)}")
    n = 0
    for tag, by_step in expected.items():
        got = scalars.get(tag, [])
        if [s for s, _ in got] != sorted(by_step):
            errors.append(f"{tag}: steps {[s for s, _ in got]}, expected {sorted(by_step)}")
            continue
        for step, value in got:
            n += 1
            if value != f32(by_step[step]):
                errors.append(f"{tag} at step {step}: {value}, expected {f32(by_step[step])}")
    texts = acc.Tensors("config") if "config" in acc.Tags()["tensors"] else []
    config = open(os.path.join(work_dir, "config.toml")).read()
    if not texts or any(config.splitlines()[0] not in t.tensor_proto.string_val[0].decode() for t in texts):
        errors.append("the config text is missing or differs from config.toml")
    compared = 0
    if reference:
        _, ref = read_events(reference)
        for tag, values in scalars.items():
            if tag in TIMING:
                continue
            # A train value is the mean over the window since the step logged before it: compared
            # where the two runs' windows are the same.
            ref_steps = [s for s, _ in ref.get(tag, [])]
            ref_values = {(prev, s): v for prev, (s, v) in zip([0] + ref_steps, ref.get(tag, []))}
            for prev, (step, value) in zip([0] + [s for s, _ in values], values):
                if (prev, step) in ref_values and ref_values[prev, step] != value:
                    errors.append(f"{tag} at step {step}: {value}, the uninterrupted run {ref_values[prev, step]}")
                compared += (prev, step) in ref_values
        missing = sorted(set(ref) - set(scalars))
        if missing:
            errors.append(f"tags of the uninterrupted run missing: {missing}")
    for e in errors:
        print("FAIL:", e)
    print(f"{work_dir}: {len(files)} event files, {len(scalars)} scalar tags, {n} values at their steps, "
          f"{len(texts)} config texts, {compared} values equal to the uninterrupted run's; steps of train/loss {[s for s, _ in scalars.get('train/loss', [])]}, "
          f"of val/accuracy_top-1 {[s for s, _ in scalars.get('val/accuracy_top-1', [])]}")
    return not errors


if __name__ == "__main__":
    args = sys.argv[1:]
    ok = check(args[0], args[1] if len(args) > 1 and args[1] else None,
               int(args[2]) if len(args) > 2 else None)
    sys.exit(0 if ok else 1)
