/** One line of the plot: a value per offered load. */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A small SVG line chart, both axes logarithmic. */
export function logLogPlot(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  targets?: readonly { y: number; label: string }[];
}): string {
  const width = 720;
  const height = 440;
  const m = { left: 70, right: 190, top: 40, bottom: 55 };
  const all = o.series.flatMap((s) => s.points).filter((p) => p.y > 0 && Number.isFinite(p.y));
  const xs = all.map((p) => p.x);
  const ys = [...all.map((p) => p.y), ...(o.targets ?? []).map((t) => t.y)];
  const decade = (v: number, up: boolean) =>
    10 ** (up ? Math.ceil(Math.log10(v)) : Math.floor(Math.log10(v)));
  const [x0, x1] = [Math.min(...xs) / 1.3, Math.max(...xs) * 1.3];
  const [y0, y1] = [decade(Math.min(...ys), false), decade(Math.max(...ys), true)];
  const px = (x: number) =>
    m.left + ((Math.log(x) - Math.log(x0)) / (Math.log(x1) - Math.log(x0))) * (width - m.left - m.right);
  const py = (y: number) =>
    height -
    m.bottom -
    ((Math.log(y) - Math.log(y0)) / (Math.log(y1) - Math.log(y0))) * (height - m.top - m.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${esc(o.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2 - m.right / 2}" y="22" text-anchor="middle" font-size="14">${esc(o.title)}</text>`,
  ];
  for (let y = y0; y <= y1 * 1.0001; y *= 10) {
    out.push(
      `<line x1="${m.left}" x2="${width - m.right}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`,
      `<text x="${m.left - 8}" y="${py(y) + 4}" text-anchor="end">${y >= 1 ? y : y.toPrecision(1)}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${m.top}" y2="${height - m.bottom}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${height - m.bottom + 18}" text-anchor="middle">${x}</text>`,
    );
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(m.left + width - m.right) / 2}" y="${height - 15}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(18 ${(m.top + height - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  for (const t of o.targets ?? []) {
    out.push(
      `<line x1="${m.left}" x2="${width - m.right}" y1="${py(t.y)}" y2="${py(t.y)}" stroke="#999" stroke-dasharray="2 4"/>`,
      `<text x="${m.left + 4}" y="${py(t.y) - 4}" fill="#666">${esc(t.label)}</text>`,
    );
  }
  o.series.forEach((s, i) => {
    const pts = s.points.filter((p) => p.y > 0 && Number.isFinite(p.y));
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`,
      ...pts.map(
        (p) => `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`,
      ),
      `<line x1="${width - m.right + 15}" x2="${width - m.right + 40}" y1="${m.top + 10 + i * 20}" y2="${m.top + 10 + i * 20}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${width - m.right + 46}" y="${m.top + 14 + i * 20}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
