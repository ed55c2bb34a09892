"""The tree's growth rate over a sliding window, and the time left until a threshold
(pure: samples and their times in, estimates out; no clock of its own).

Memory of a garbage-collected runtime (V8, CPython, the JVM) draws a sawtooth: it
rises by hundreds of MB and falls at each collection, without leaking. A leak is
what the *floor* of that sawtooth does, so the estimate works on the lower envelope:

* Samples go into ``BUCKETS`` buckets of ``window / BUCKETS`` seconds; each keeps
  only its minimum (and when it was seen). A sample costs a comparison; a bucket
  closing costs one pass over at most ``BUCKETS`` minima. Memory is constant: a
  bounded deque, however long the run.
* Over a horizon, the minima are split in thirds: the floor of the first (A), the
  middle (M) and the last (B). A leak raises the floor all along: A < M < B, each
  half holding a fair share of the rise. A sawtooth whose period fits in a third has
  A = M = B, one out of phase breaks the order, a step or a rising edge lifts one
  half only: then no trend (None), rather than a guess.
* A one-off step (a big file read once) lifts the floor once: the largest single
  rise of the envelope between A and B, when it is ``STEP`` times the next largest,
  is taken out with the time it took, so a step counts for nothing and a leak under
  it is still measured; a floor that rises in equal stairs (a leak drawn as a rising
  sawtooth) is a leak.
* Two horizons, the whole window and its second half; the lower estimate wins, so a
  leak that stops (or slows) is seen within half a window and a long sawtooth must fool
  both, unless the two agree within the second half's noise: then the whole window's.
* The time left counts from the *top* of the recent samples, not from the latest one:
  a threshold is first reached by a tooth's peak (or a jitter's high), and the latest
  sample may sit anywhere between floor and peak. Each bucket keeps its maximum too;
  the highest of the last third of the window, carried to now at the rate, is where the
  tree's top is (a 48 MB ripple on a 12 MB/min leak is 4 minutes of ETA otherwise).

What it cannot tell apart: a sawtooth whose period is longer than the window looks
like a leak on its rising edge, and a leak that starts mid-window is underestimated
until the window has filled with it (a lag of up to one window).
"""

from collections import deque
from typing import NamedTuple

BUCKETS = 30  # per window
# A horizon needs this many closed buckets: 2 minutes at the default window. Sooner, the
# rising edge of a first sawtooth tooth (or of the agent's own start-up) is all there is
# to see, and it reads as a leak.
MIN_BUCKETS = 12
FLAT_BYTES = 1 << 20  # a rise of the floor under this (or 0.2% of the tree) is noise
BALANCE = 1 / 6  # each half of a horizon must hold this share of the floor's rise
STEP = 3  # a rise of the floor this many times the next largest is a one-off step


class Estimate(NamedTuple):
    """The growth rate (None: flat, falling or too uncertain) and the seconds until
    each threshold at that rate (None: no rate, or already over it)."""

    rate: float | None = None  # bytes per second
    eta_critical: float | None = None
    eta_emergency: float | None = None


UNKNOWN = Estimate()


class Trend:
    def __init__(self, window: float, buckets: int = BUCKETS) -> None:
        if window <= 0 or buckets < 2 * MIN_BUCKETS:
            raise ValueError(f"a trend needs a window above zero and {2 * MIN_BUCKETS} buckets")
        self.window = window
        self.width = window / buckets
        # Per closed bucket: when its minimum was seen, the minimum, and the largest rise
        # between two of its samples.
        self._closed: deque[tuple[float, int, int]] = deque(maxlen=buckets)
        # Per closed bucket of the last third: when its maximum was seen, and the maximum.
        self._tops: deque[tuple[float, int]] = deque(maxlen=max(1, buckets // 3))
        self._top = 0.0  # the tops' highest, less rate x its time (so: + rate x now)
        self._start: float | None = None  # the open bucket's start
        self._min = 0
        self._min_at = 0.0
        self._jump = 0
        self._max = 0
        self._max_at = 0.0
        self.last = 0  # the latest sample's value
        self.last_at = 0.0
        self.rate: float | None = None

    def reset(self) -> None:
        self._closed.clear()
        self._tops.clear()
        self._start = None
        self.rate = None

    def add(self, t: float, value: int) -> None:
        """One sample taken at ``t`` (seconds, any monotonic origin)."""
        rise = value - self.last
        self.last, self.last_at = value, t
        start = self._start
        if start is None:
            self._open(t, value)
            return
        if rise > self._jump:
            self._jump = rise
        if t - start >= self.width:
            self._closed.append((self._min_at, self._min, self._jump))
            self._tops.append((self._max_at, self._max))
            self._open(t, value)
            rate = self.rate = self._estimate()
            if rate is not None:
                self._top = max(v - rate * at for at, v in self._tops)
        elif value < self._min:
            self._min, self._min_at = value, t
        elif value > self._max:
            self._max, self._max_at = value, t

    def _open(self, t: float, value: int) -> None:
        self._start, self._min, self._min_at, self._jump = t, value, t, 0
        self._max, self._max_at = value, t

    def estimate(self, critical: int, emergency: int) -> Estimate:
        """The rate and, from the top of the recent samples carried to the latest one's
        time, the time until each threshold (None once the latest sample is over it)."""
        rate = self.rate
        if rate is None:
            return UNKNOWN
        last = self.last
        top = max(self._top, self._max - rate * self._max_at) + rate * self.last_at
        return Estimate(
            rate,
            max(0.0, (critical - top) / rate) if last < critical else None,
            max(0.0, (emergency - top) / rate) if last < emergency else None,
        )

    def _estimate(self) -> float | None:
        closed = list(self._closed)
        if len(closed) < MIN_BUCKETS:
            return None
        whole, _ = _floor_rate(closed, self.width)
        if not whole:
            return None
        half = closed[len(closed) // 2 :]
        if len(half) < MIN_BUCKETS:
            return whole
        recent, noise = _floor_rate(half, self.width)
        if recent is None:
            return None
        if recent == 0.0:
            # Under the noise lately: the leak stopped, unless at the whole window's rate
            # the second half could not have risen past the noise anyway.
            return None if whole * (half[-1][0] - half[0][0]) > 2 * noise else whole
        if (whole - recent) * (half[-1][0] - half[0][0]) <= noise:
            # The second half rose as much as the whole window's rate says, give or take
            # its noise: the same leak, and the longer horizon measures it better (the
            # lower of two noisy figures is biased low: a ripple of 48 MB on 12 MB/min
            # read 25% slow).
            return whole
        return min(whole, recent)


def _floor_rate(minima: list[tuple[float, int, int]], width: float) -> tuple[float | None, int]:
    """The rise of the floor of ``minima`` per second, less its largest single step, and
    the noise it was judged against: the rate is 0.0 when the rise is within the noise,
    None when the floor is not rising steadily (see the module's docstring)."""
    n = len(minima)
    third = n // 3
    a = min(minima[:third], key=_value)
    m = min(minima[third : n - third], key=_value)
    b = min(minima[n - third :], key=_value)
    if not a[1] <= m[1] <= b[1]:
        return None, 0
    # The envelope between A and B: the least memory seen from each bucket on (M is on
    # it). Its largest single rise is taken out with the time it took: a step.
    i, j = minima.index(a), minima.index(b)
    floor, floor_at, step, step_at, step_time, runner_up = b[1], b[0], 0, 0.0, 0.0, 0
    for k in range(j - 1, i - 1, -1):
        at, value, _ = minima[k]
        if value < floor:
            rise = floor - value
            if rise > step:
                step, step_at, step_time, runner_up = rise, at, floor_at - at, step
            elif rise > runner_up:
                runner_up = rise
            floor, floor_at = value, at
    if step <= STEP * runner_up:
        step, step_time = 0, 0.0  # steps alike: the floor rising in stairs is a leak
    first, second = m[1] - a[1], b[1] - m[1]
    if step_at < m[0]:
        first -= step
    else:
        second -= step
    rise = first + second
    # Noise: a MiB or 0.2% of the tree, or twice the typical rise between two samples
    # (a sawtooth sampled out of phase draws a floor that wanders by about that much).
    jumps = sorted(x[2] for x in minima)
    noise = max(FLAT_BYTES, b[1] // 500, 2 * jumps[len(jumps) // 2])
    if rise <= noise:
        return 0.0, noise
    if min(first, second) < rise * BALANCE:
        return None, noise  # a rise of one part only (a sawtooth's rising edge)
    span = b[0] - a[0] - step_time
    if span < 2 * width:
        return None, noise
    return rise / span, noise


def _value(item: tuple[float, int, int]) -> int:
    return item[1]
