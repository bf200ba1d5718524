"""Reading what /metrics exposes: sample names, and values by labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

# The sample names a family of each type exposes (prometheus_client strips `_total` from a
# counter family's name).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "unknown": ("",),
}


def exposed_names(text: str) -> set[str]:
    """Every sample name the exposition declares, whether or not a labelled child exists yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples called `name` whose labels include `labels`."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                found.append(sample.value)
    return found


def value(text: str, name: str, **labels: str) -> float:
    """The one matching sample's value (sum when several match), 0 when none does."""
    return sum(samples(text, name, **labels))
