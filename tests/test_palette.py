"""Every page state has colours a person can tell apart from every other state's.

The RAM map teaches by colour: anonymous copies, untrimmed slack, trimmed
frames, page cache, device memory. If two states looked alike (say slack drawn
in the anonymous colour) the trimming lesson would vanish from the picture while
every palette-index test still passed. So the palettes are checked by eye, as
numbers: CIEDE2000 between any two states' colours.
"""

from __future__ import annotations

import itertools

import pytest
from _colour import delta_e00, rgb_distance

from nommu_lab.kernel import PageState
from nommu_lab.widgets import palette as pal

#: ΔE00 above which two colours read as different at a glance (1 is barely visible)
AT_A_GLANCE = 10.0
#: faded colours (outside a selection) are meant to recede, but must stay apart
FADED_APART = 5.0


def _palettes() -> dict[str, object]:
    """Every palette a view draws with (learner and presenter)."""
    found = {name: getattr(pal, name) for name in dir(pal)
             if name.endswith("PALETTE") and not name.startswith("_")}
    assert "PALETTE" in found
    return found


def test_the_colour_metric_matches_published_values() -> None:
    # Sharma, Wu and Dalal (2005), test pairs 1 and 17
    assert delta_e00((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert delta_e00((50.0, 2.5, 0.0), (73.0, 25.0, -18.0)) == pytest.approx(27.1492, abs=1e-4)
    assert rgb_distance((255, 255, 255), (255, 255, 255)) == 0.0


@pytest.mark.parametrize("name", sorted(_palettes()))
@pytest.mark.parametrize("faded", [False, True], ids=["normal", "faded"])
def test_every_state_differs_from_every_other_state(name: str, faded: bool) -> None:
    palette = _palettes()[name]
    margin = FADED_APART if faded else AT_A_GLANCE
    too_close = []
    for s1, s2 in itertools.combinations(list(PageState), 2):
        d = min(rgb_distance(palette[pal.palette_index(s1, a, faded)],
                             palette[pal.palette_index(s2, b, faded)])
                for a in (0, 1) for b in (0, 1))
        if d < margin:
            too_close.append(f"{s1.name}/{s2.name}: ΔE00 {d:.1f}")
    assert too_close == [], f"{name}: states a person cannot tell apart"


@pytest.mark.parametrize("name", sorted(_palettes()))
def test_the_two_shades_of_a_state_are_visible_but_related(name: str) -> None:
    """Neighbouring regions of one kind alternate shades: the boundary must show."""
    palette = _palettes()[name]
    for s in PageState:
        if s in (PageState.FREE, PageState.TRIMMED, PageState.KERNEL):
            continue  # one shade: these are never split into regions
        d = rgb_distance(palette[pal.palette_index(s, 0)], palette[pal.palette_index(s, 1)])
        assert d >= 5.0, f"{name}: the two shades of {s.name} are too alike ({d:.1f})"
