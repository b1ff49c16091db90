// Time-series charts on uPlot (loaded as a classic script: window.uPlot).
// A chart owns its element; data comes in as uPlot's column arrays.

export const colours = {
  canary: '#e8590c',
  baseline: '#1c7ed6',
  stable: '#2f9e44',
  target: '#495057',
};

const percent = (v) => (v == null ? '–' : `${(v * 100).toFixed(v >= 0.9995 || v === 0 ? 0 : 2)}%`);
const millis = (v) => (v == null ? '–' : `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`);

function latest(values) {
  for (let i = (values?.length ?? 0) - 1; i >= 0; --i) {
    if (values[i] != null) {
      return values[i];
    }
  }
  return null;
}

function clock(seconds) {
  const d = new Date(seconds * 1000);
  return d.toLocaleTimeString([], { hour12: false });
}

// A line chart of ratios (0..1) or milliseconds over wall-clock seconds.
export class time_chart {
  constructor(element, { series, unit, height = 210, range = null }) {
    this.element = element;
    this.unit = unit;
    const format = unit === 'ratio' ? percent : millis;
    const opts = {
      width: Math.max(element.clientWidth, 320),
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: { time: true },
        y: range ? { range } : { auto: true, range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        {
          values: (u, ticks) => ticks.map(clock),
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600], // whole seconds: no repeated labels
          space: 70,
          stroke: '#868e96',
          grid: { stroke: '#f1f3f5' },
        },
        {
          values: (u, ticks) => ticks.map((t) => (unit === 'ratio' ? `${+(t * 100).toFixed(1)}%` : `${t} ms`)),
          size: 64,
          stroke: '#868e96',
          grid: { stroke: '#f1f3f5' },
        },
      ],
      series: [
        // Off the plot, the legend shows each series' latest value.
        { value: (u, v, si, idx) => (idx == null ? 'latest' : v == null ? '–' : clock(v)) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.colour,
          width: s.width ?? 2,
          dash: s.dash,
          paths: s.stepped ? window.uPlot.paths.stepped({ align: 1 }) : undefined,
          spanGaps: false,
          points: { show: false },
          value: (u, v, si, idx) => format(idx == null ? latest(u.data[si]) : v),
        })),
      ],
    };
    this.plot = new window.uPlot(opts, [[], ...series.map(() => [])], element);
    this.resize = new ResizeObserver(() => {
      const width = Math.max(element.clientWidth, 320);
      if (width !== this.plot.width) {
        this.plot.setSize({ width, height });
      }
    });
    this.resize.observe(element);
  }

  // columns: [times in seconds, series 1 values, ...]; null is a gap.
  set(columns) {
    this.plot.setData(columns);
    this.element.dataset.points = String(columns[0].length);
  }

  destroy() {
    this.resize.disconnect();
    this.plot.destroy();
  }
}
