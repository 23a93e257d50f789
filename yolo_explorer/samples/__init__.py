"""Built-in sample photos (free licences, see SOURCES.md beside them)."""

from __future__ import annotations

from importlib import resources

__all__ = ["SAMPLES", "sample_bytes", "sample_credits"]

# name shown to users -> (file, one-line credit)
SAMPLES: dict[str, tuple[str, str]] = {
    "astronaut": ("astronaut.jpg", "Eileen Collins, NASA Great Images database (public domain)"),
    "cat": ("cat.jpg", '"Chelsea the cat" by Stefan van der Walt (CC0)'),
    "coffee": ("coffee.jpg", "coffee cup by Rachel Michetti, courtesy of Pikolo Espresso Bar (CC0)"),
    "rocket": ("rocket.jpg", "launch of DSCOVR on Falcon 9, SpaceX (public domain)"),
}


def sample_bytes(name: str) -> bytes:
    """The JPEG bytes of a built-in sample.

    Raises:
        KeyError: not a sample name.
    """
    try:
        filename, _ = SAMPLES[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a sample; choose one of {', '.join(SAMPLES)}") from None
    return resources.files(__name__).joinpath(filename).read_bytes()


def sample_credits() -> str:
    """The licence table shipped with the samples (Markdown)."""
    return resources.files(__name__).joinpath("SOURCES.md").read_text(encoding="utf-8")
