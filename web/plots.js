// The run page's plots: inline SVG with round ticks and labelled axes.

import { s } from './dom.js';
import { known } from './format.js';

/**
 * Round ticks from 0 past `max`: a step of 1, 2 or 5 × 10^k, the smallest that needs at most five
 * intervals, so 4–6 ticks. Counts (`integer`) step by whole numbers and reach at least 4.
 */
function ticks(max, { integer = false } = {}) {
  const top = Math.max(integer ? 4 : 0, known(max) && max > 0 ? max : 1);
  const power = 10 ** Math.floor(Math.log10(top / 5));
  const step =
    [1, 2, 5, 10].map((m) => m * power).find((st) => Math.ceil(top / st - 1e-9) <= 5) ?? 10 * power;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const n = Math.ceil(top / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => Number((i * step).toFixed(decimals)));
}

const PLOT = { width: 480, height: 260, pad: { l: 58, r: 16, t: 14, b: 46 } };

/** Both axes of a plot: lines, ticks with round labels, grid lines and a label with its unit on each. */
function axes({ xMax, yMax, xLabel, yLabel, xInteger = false, yInteger = true }) {
  const { width, height, pad } = PLOT;
  const xs = ticks(xMax, { integer: xInteger });
  const ys = ticks(yMax, { integer: yInteger });
  const xTop = xs.at(-1);
  const yTop = ys.at(-1);
  const x = (v) => pad.l + (v / xTop) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / yTop) * (height - pad.t - pad.b);
  const bottom = y(0);
  // Drawn first, so the data lie over it.
  const grid = s(
    'g',
    { class: 'grid' },
    ys.slice(1).map((v) => s('line', { x1: pad.l, y1: y(v), x2: width - pad.r, y2: y(v) })),
  );
  const elements = [
    s('line', { class: 'axis', x1: pad.l, y1: bottom, x2: width - pad.r, y2: bottom }),
    s('line', { class: 'axis', x1: pad.l, y1: bottom, x2: pad.l, y2: pad.t }),
    s(
      'g',
      { class: 'ticks', 'data-axis': 'x' },
      xs.map((v) =>
        s(
          'g',
          {},
          s('line', { class: 'axis', x1: x(v), y1: bottom, x2: x(v), y2: bottom + 4 }),
          s('text', { class: 'tick', x: x(v), y: bottom + 15, 'text-anchor': 'middle' }, String(v)),
        ),
      ),
    ),
    s(
      'g',
      { class: 'ticks', 'data-axis': 'y' },
      ys.map((v) =>
        s(
          'g',
          {},
          s('line', { class: 'axis', x1: pad.l - 4, y1: y(v), x2: pad.l, y2: y(v) }),
          s('text', { class: 'tick', x: pad.l - 7, y: y(v) + 3.5, 'text-anchor': 'end' }, String(v)),
        ),
      ),
    ),
    s(
      'text',
      {
        class: 'axis-label',
        'data-axis': 'x',
        x: (pad.l + width - pad.r) / 2,
        y: height - 8,
        'text-anchor': 'middle',
      },
      xLabel,
    ),
    s(
      'text',
      {
        class: 'axis-label',
        'data-axis': 'y',
        transform: `translate(14 ${(pad.t + bottom) / 2}) rotate(-90)`,
        'text-anchor': 'middle',
      },
      yLabel,
    ),
  ];
  return { x, y, grid, elements };
}

const plotFrame = (testid, ...children) =>
  s(
    'svg',
    {
      width: PLOT.width,
      height: PLOT.height,
      viewBox: `0 0 ${PLOT.width} ${PLOT.height}`,
      'data-testid': testid,
    },
    ...children,
  );

/** A note in the middle of a plot that has no data yet. */
const noData = (text) =>
  s(
    'text',
    { class: 'no-data', x: (PLOT.pad.l + PLOT.width) / 2, y: PLOT.height / 2, 'text-anchor': 'middle' },
    text,
  );

/** A cumulative count through points {x, y}, from the origin: steps, as the count rises only at a result. */
export function stepChart(points, { xLabel, yLabel, testid }) {
  const { x, y, grid, elements } = axes({
    xMax: Math.max(0, ...points.map((p) => p.x)),
    yMax: Math.max(0, ...points.map((p) => p.y)),
    xLabel,
    yLabel,
  });
  const path = points
    .map((p, i) =>
      i === 0 ? `M${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}` : `H${x(p.x).toFixed(1)} V${y(p.y).toFixed(1)}`,
    )
    .join(' ');
  return plotFrame(
    testid,
    grid,
    elements,
    points.length > 1 ? s('path', { class: 'series', d: path }) : noData('no slice done yet'),
  );
}

/** Bars of a histogram [{from_ms, to_ms, count}] on a linear delay axis. */
export function barChart(bins, { xLabel, yLabel, testid }) {
  const { x, y, grid, elements } = axes({
    xMax: bins.at(-1)?.to_ms ?? 0,
    yMax: Math.max(0, ...bins.map((b) => b.count)),
    xLabel,
    yLabel,
  });
  return plotFrame(
    testid,
    grid,
    bins.map((b) =>
      s(
        'rect',
        {
          class: 'bar',
          x: x(b.from_ms) + 0.5,
          y: y(b.count),
          width: Math.max(1, x(b.to_ms) - x(b.from_ms) - 1),
          height: y(0) - y(b.count),
        },
        s('title', {}, `${b.from_ms}–${b.to_ms} ms: ${b.count} slices`),
      ),
    ),
    elements,
    bins.length > 0 ? [] : noData('no slice done yet'),
  );
}
