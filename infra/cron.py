"""Cron schedules as Kubernetes CronJobs read them, so an impossible or malformed schedule is a config error
rather than a Job that never runs.

Kubernetes parses `spec.schedule` with robfig/cron's standard parser: five fields (minute 0-59, hour 0-23,
day of month 1-31, month 1-12 or JAN-DEC, day of week 0-6 or SUN-SAT), each `*`, `?` (day fields), a value,
a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma list of these; or one of the descriptors
@yearly @annually @monthly @weekly @daily @midnight @hourly
(https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax,
https://pkg.go.dev/github.com/robfig/cron/v3#hdr-CRON_Expression_Format). Time zones belong in
`spec.timeZone`, not in the schedule. When both day fields are restricted a day matches either (cron's OR);
when only the day of month is, it must exist in one of the chosen months (`0 0 30 2 *` never runs).
"""

from __future__ import annotations

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
          ("month", 1, 12, MONTHS), ("day of week", 0, 6, DAYS))
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
MAX_LENGTH = 200


def _value(text: str, low: int, names: tuple[str, ...], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + low
    if not text.isdigit():
        raise ValueError(f"{what}: {text!r} is not a number" + (f" or one of {', '.join(names)}" if names else ""))
    return int(text)


def _field(text: str, what: str, low: int, high: int, names: tuple[str, ...]) -> tuple[set[int], bool]:
    """The values one field selects, and whether it is unrestricted (* or ?)."""
    if text in ("*", "?"):
        if text == "?" and what not in ("day of month", "day of week"):
            raise ValueError(f"{what}: '?' is allowed only in the day fields")
        return set(range(low, high + 1)), True
    chosen: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ValueError(f"{what}: an empty item in {text!r}")
        span, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{what}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if span in ("*", "?"):
            start, end = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            start, end = _value(a, low, names, what), _value(b, low, names, what)
        else:
            start = _value(span, low, names, what)
            end = high if slash else start
        for v in (start, end):
            if not low <= v <= high:
                raise ValueError(f"{what}: {v} is outside {low}-{high}")
        if start > end:
            raise ValueError(f"{what}: range {span} runs backwards")
        chosen.update(range(start, end + 1, step))
    return chosen, False


def cron_problem(schedule: str) -> str | None:
    """None when Kubernetes would run `schedule`, else why not (one sentence)."""
    if len(schedule) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters"
    text = schedule.strip()
    if text.startswith("@"):
        return None if text in DESCRIPTORS else f"{text!r} is not one of {', '.join(DESCRIPTORS)}"
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        return "a time zone does not belong in the schedule (Kubernetes uses spec.timeZone; this program runs UTC)"
    parts = text.split()
    if len(parts) != 5:
        return f"{len(parts)} fields; a cron schedule has 5 (minute hour day-of-month month day-of-week)"
    try:
        chosen = [_field(p, what, low, high, names) for p, (what, low, high, names) in zip(parts, FIELDS, strict=True)]
    except ValueError as exc:
        return str(exc)
    (days, any_day), (months, _), (_, any_weekday) = chosen[2], chosen[3], chosen[4]
    if not any_day and any_weekday and min(days) > max(DAYS_IN_MONTH[m - 1] for m in months):
        return (f"day {min(days)} does not exist in month(s) {', '.join(MONTHS[m - 1] for m in sorted(months))}: "
                "the job would never run")
    return None
