"""The downloads-over-time chart, drawn on the server as inline SVG so it shows without JavaScript."""

from markupsafe import Markup, escape

from ..services.downloads import DailyDownloads

WIDTH, HEIGHT = 720, 180
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 44, 22, 8


def downloads_svg(series: DailyDownloads) -> Markup:
    """A bar chart with a labelled axis; its accessible name states the period and the total."""
    peak = max(series.counts, default=0)
    top = _nice_ceiling(peak)
    plot_w, plot_h = WIDTH - PAD_LEFT, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(series.days), 1)
    label = (f"Downloads per day over the last {len(series.days)} days: {series.total} in total, "
             f"at most {peak} on one day")
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
             'xmlns="http://www.w3.org/2000/svg">',
             f'<title id="chart-title">{escape(label)}</title>']
    for fraction in ((0, 0.5, 1) if top % 2 == 0 else (0, 1)):
        y = PAD_TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{_short(round(top * fraction))}</text>')
    for n, (day, count) in enumerate(zip(series.days, series.counts)):
        if count:
            bar_h = plot_h * count / top
            x = PAD_LEFT + n * step
            parts.append(f'<rect class="bar" x="{x + 0.5:.1f}" y="{PAD_TOP + plot_h - bar_h:.1f}" '
                         f'width="{max(step - 1, 1):.1f}" height="{bar_h:.1f}"><title>{day.isoformat()}: '
                         f'{count}</title></rect>')
    for n in (0, len(series.days) // 2, len(series.days) - 1):
        if 0 <= n < len(series.days):
            anchor = "start" if n == 0 else "end" if n == len(series.days) - 1 else "middle"
            parts.append(f'<text class="axis" x="{PAD_LEFT + n * step + step / 2:.1f}" y="{HEIGHT - 6}" '
                         f'text-anchor="{anchor}">{series.days[n].strftime("%b %d")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= value:
                return factor * magnitude
        magnitude *= 10


def _short(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1000:
        return f"{value / 1000:g}k"
    return str(value)
