/** One group of bars (a driver, a rate) in a {@link barChart}. */
export interface ChartRow {
  readonly label: string;
  readonly bars: ReadonlyArray<{ readonly series: string; readonly value: number }>;
}

export interface ChartSpec {
  readonly title: string;
  /** Printed after each value, e.g. `%`, ` ms`. */
  readonly unit: string;
  readonly rows: readonly ChartRow[];
  /** A vertical reference line (a target), with its label. */
  readonly marker?: { readonly value: number; readonly label: string };
  /** Digits after the decimal point of printed values. @default 0 */
  readonly digits?: number;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1', '#edc948'];
const WIDTH = 760;
const LABEL_W = 150;
const VALUE_W = 90;
const BAR_H = 16;
const GAP = 4;
const GROUP_GAP = 12;

/** A horizontal grouped bar chart as a standalone SVG document (no fonts or scripts to load). */
export function barChart(spec: ChartSpec): string {
  const series = [...new Set(spec.rows.flatMap((r) => r.bars.map((b) => b.series)))];
  const color = (name: string) => PALETTE[series.indexOf(name) % PALETTE.length]!;
  const finite = spec.rows.flatMap((r) => r.bars.map((b) => b.value)).filter(Number.isFinite);
  const max = Math.max(...finite, spec.marker?.value ?? 0, 1e-9);
  const plotW = WIDTH - LABEL_W - VALUE_W - 20;
  const scale = (v: number) => (Math.max(0, v) / max) * plotW;
  const legendH = 24;
  let y = 40 + legendH;
  const parts: string[] = [];
  for (const row of spec.rows) {
    const groupH = row.bars.length * (BAR_H + GAP) - GAP;
    parts.push(text(LABEL_W - 8, y + groupH / 2 + 4, row.label, 'end', 12, '#222'));
    for (const bar of row.bars) {
      const w = Number.isFinite(bar.value) ? scale(bar.value) : 0;
      parts.push(
        `<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${color(bar.series)}"/>`,
      );
      const shown = Number.isFinite(bar.value) ? `${format(bar.value, spec.digits ?? 0)}${spec.unit}` : 'n/a';
      parts.push(text(LABEL_W + w + 4, y + BAR_H - 4, shown, 'start', 11, '#333'));
      y += BAR_H + GAP;
    }
    y += GROUP_GAP - GAP;
  }
  const height = y + 16;
  if (spec.marker) {
    const x = LABEL_W + scale(spec.marker.value);
    parts.push(
      `<line x1="${x.toFixed(1)}" y1="${36 + legendH}" x2="${x.toFixed(1)}" y2="${height - 18}" stroke="#c00" stroke-dasharray="4 3"/>`,
      text(x, height - 4, spec.marker.label, 'middle', 11, '#c00'),
    );
  }
  const legend = series.map((name, i) => {
    const x = LABEL_W + i * 170;
    return `<rect x="${x}" y="${32}" width="12" height="12" fill="${color(name)}"/>${text(x + 16, 42, name, 'start', 12, '#222')}`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" role="img">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(WIDTH / 2, 20, spec.title, 'middle', 14, '#111', 'bold'),
    ...legend,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function text(
  x: number,
  y: number,
  content: string,
  anchor: string,
  size: number,
  fill: string,
  weight = 'normal',
) {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}" font-size="${size}" font-weight="${weight}" fill="${fill}">${escapeXml(content)}</text>`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

export function format(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
