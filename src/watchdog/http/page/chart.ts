/**
 * The pages' charts: uPlot (bundled into the page's script at build time, its style into the
 * page's style; it draws on a canvas and sets styles through the CSSOM, which the pages'
 * Content-Security-Policy allows). A chart is a picture of figures the page also shows as text
 * (each chart has its table), so it is drawn from the same arrays and only for the eye: its
 * container says what it drew in data attributes (`data-points`, `data-series`, and
 * `data-mark-x` for a marked moment with `data-mark-left`, where its line was drawn: CSS pixels
 * from the plot area's left edge), for tests.
 */
import uPlot from 'uplot';

/** One line of a chart. */
export interface ChartSeries {
  label: string;
  /** One per x; null where the figure was not read (the line has a gap). */
  values: (number | null)[];
  /** A CSS custom property of the page's style (`--accent`), or a colour. */
  color: string;
  /** Dashed, for a limit rather than a measure. */
  dashed?: boolean;
}

/** What to draw. */
export interface ChartSpec {
  /** Ascending x values: seconds (elapsed seconds, or epoch seconds when `time`). */
  x: number[];
  series: ChartSeries[];
  /** x as epoch seconds, labelled as clock times. */
  time?: boolean;
  /** How an x value reads on the axis (ignored when `time`). */
  xValue?: (x: number) => string;
  /** How a y value reads on the axis and in the legend. */
  yValue: (y: number) => string;
  /** The steps the y axis may tick at (uPlot's decimal ones by default): powers of two for bytes, whole numbers for counts. */
  yIncrs?: number[];
  /**
   * Counts over intervals that start at each x (kills per hour): each drawn as a flat step over its
   * interval, not as a slope between two of them, which would show kills between the hours.
   */
  steps?: boolean;
  /** A moment marked by a vertical line (the kill), in x units, and what it is. */
  mark?: { x: number; label: string } | null;
  height?: number;
}

/** The page's value of a CSS custom property, or `color` itself when it is not one. */
function cssColor(color: string): string {
  return color.startsWith('--') ? getComputedStyle(document.documentElement).getPropertyValue(color).trim() || '#888' : color;
}

/** Steps for a bytes axis: 1 B, 2 B, 4 B, ... 8 EiB, so that ticks fall on 512 MiB, 1 GiB, 1.5 GiB. */
export const BYTE_STEPS = Array.from({ length: 64 }, (_, k) => 2 ** k);

/** Steps for a count axis: 1, 2, 5, 10, 20, 50, ... (never a fraction of a kill). */
export const COUNT_STEPS = Array.from({ length: 30 }, (_, k) => [1, 2, 5][k % 3] * 10 ** Math.floor(k / 3));

const charts = new WeakMap<HTMLElement, uPlot>();

/** Keeps each chart as wide as its container when the window (or the layout) changes. */
const resizes = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = charts.get(entry.target as HTMLElement);
    const width = Math.max(320, Math.floor(entry.contentRect.width));
    if (chart && chart.width !== width) chart.setSize({ width, height: chart.height });
  }
});

/**
 * The x scale's range [min, max] over the samples' [min, max] and the marked moment `mark`, all in
 * x units; a single point (min = max) gets a second of room either side, as uPlot gives it.
 */
function spanning(min: number | null, max: number | null, mark: number): [number, number] {
  const low = Math.min(min ?? mark, mark);
  const high = Math.max(max ?? mark, mark);
  return low === high ? [low - 1, high + 1] : [low, high];
}

/** Draws `spec` into `container`, replacing what it held. Nothing is drawn (the container is emptied) without at least one x. */
export function drawChart(container: HTMLElement, spec: ChartSpec): void {
  charts.get(container)?.destroy();
  charts.delete(container);
  container.replaceChildren();
  container.setAttribute('data-points', String(spec.x.length));
  container.setAttribute('data-series', spec.series.map((s) => s.label).join('\n'));
  if (spec.mark) container.setAttribute('data-mark-x', String(spec.mark.x));
  else container.removeAttribute('data-mark-x');
  container.removeAttribute('data-mark-left');
  if (spec.x.length === 0) return;
  const axis = { stroke: cssColor('--muted'), grid: { stroke: cssColor('--line'), width: 1 }, ticks: { stroke: cssColor('--line'), width: 1 } };
  const mark = spec.mark;
  const markColor = cssColor('--crit');
  const options: uPlot.Options = {
    width: Math.max(320, container.clientWidth || 800),
    height: spec.height ?? 260,
    // The x range spans the mark as well as the samples: a kill after the last sample (a tree that
    // grew between two samples) must still be drawn, not fall off the right edge.
    scales: { x: { time: spec.time ?? false, ...(mark ? { range: (_u: uPlot, min: number, max: number) => spanning(min, max, mark.x) } : {}) } },
    axes: [
      { ...axis, ...(spec.time || !spec.xValue ? {} : { values: (_u: uPlot, ticks: number[]) => ticks.map(spec.xValue!) }) },
      { ...axis, size: 80, values: (_u: uPlot, ticks: number[]) => ticks.map(spec.yValue), ...(spec.yIncrs ? { incrs: spec.yIncrs } : {}) },
    ],
    series: [
      spec.time ? {} : { label: 'elapsed', value: (_u: uPlot, v: number | null) => (v === null || !spec.xValue ? '' : spec.xValue(v)) },
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: cssColor(s.color),
        width: 2,
        dash: s.dashed ? [6, 4] : undefined,
        spanGaps: false,
        ...(spec.steps ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
        points: { show: spec.x.length < 60 },
        value: (_u: uPlot, v: number | null) => (v === null ? '\u2013' : spec.yValue(v)),
      })),
    ],
    hooks: {
      draw: mark
        ? [
            (u: uPlot) => {
              // The kill: a vertical line across the plot, labelled at its top.
              const x = u.valToPos(mark.x, 'x', true);
              const { ctx, bbox } = u;
              container.setAttribute('data-mark-left', String(u.valToPos(mark.x, 'x')));
              ctx.save();
              ctx.strokeStyle = markColor;
              ctx.fillStyle = markColor;
              ctx.lineWidth = 2 * devicePixelRatio;
              ctx.beginPath();
              ctx.moveTo(x, bbox.top);
              ctx.lineTo(x, bbox.top + bbox.height);
              ctx.stroke();
              ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
              ctx.textAlign = x > bbox.left + bbox.width / 2 ? 'right' : 'left';
              ctx.fillText(mark.label, x + (ctx.textAlign === 'right' ? -6 : 6) * devicePixelRatio, bbox.top + 14 * devicePixelRatio);
              ctx.restore();
            },
          ]
        : [],
    },
  };
  const data: uPlot.AlignedData = [spec.x, ...spec.series.map((s) => s.values)];
  charts.set(container, new uPlot(options, data, container));
  resizes.observe(container);
}
