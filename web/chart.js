// @ts-check
/**
 * A live line chart on a canvas for numeric payloads (GDP logs are mostly sensor readings): the
 * last points against their commit times, with rounded ticks on both axes (1, 2 or 5 × 10ⁿ on
 * y; whole seconds, minutes or hours on x) and a readout of the point nearest the pointer.
 *
 * @module
 */

/** Points a chart keeps; older ones scroll out. */
const MAX_POINTS = 300;

/** Time steps the x axis may tick at, in ms. */
const TIME_STEPS = [
  1,
  2,
  5,
  10,
  20,
  50,
  100,
  200,
  500,
  1e3,
  2e3,
  5e3,
  10e3,
  15e3,
  30e3,
  60e3,
  120e3,
  300e3,
  600e3,
  900e3,
  1800e3,
  3600e3,
  7200e3,
  3 * 3600e3,
  6 * 3600e3,
  12 * 3600e3,
  86400e3,
];

/**
 * @typedef {object} Point
 * @property {number} recno
 * @property {number} value
 * @property {number} time commit time in ms since the epoch
 */

export class LiveChart {
  /** @type {HTMLCanvasElement} */ canvas;
  /** @type {HTMLElement | undefined} */ #readout;
  /** @type {Point[]} */ #points = [];
  /** The pointer's x in CSS pixels, while it is over the chart. @type {number | undefined} */
  #hoverX;

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLElement} [readout] where the hovered point is described in words
   */
  constructor(canvas, readout) {
    this.canvas = canvas;
    this.#readout = readout;
    const hover = (/** @type {PointerEvent} */ event) => {
      this.#hoverX = event.clientX - canvas.getBoundingClientRect().left;
      this.draw();
    };
    canvas.addEventListener("pointermove", hover);
    canvas.addEventListener("pointerdown", hover);
    canvas.addEventListener("pointerleave", () => {
      this.#hoverX = undefined;
      this.draw();
    });
  }

  /** Points shown now. */
  get size() {
    return this.#points.length;
  }

  /**
   * Adds a point; {@linkcode LiveChart.draw} shows it.
   * @param {number} recno
   * @param {number} value
   * @param {number} time commit time, ms since the epoch
   */
  add(recno, value, time) {
    this.#points.push({ recno, value, time });
    if (this.#points.length > MAX_POINTS) {
      this.#points.splice(0, this.#points.length - MAX_POINTS);
    }
    this.canvas.dataset.points = String(this.#points.length);
    this.canvas.dataset.last = String(value);
  }

  /** Redraws the chart (the panel calls it a few times a second at most, and on hover). */
  draw() {
    const canvas = this.canvas;
    const ratio = globalThis.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0 || this.#points.length === 0) return;
    // Resizing reallocates the canvas: only when the element's size changed.
    if (
      canvas.width !== Math.round(width * ratio) ||
      canvas.height !== Math.round(height * ratio)
    ) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const points = this.#points;
    const yTicks = niceTicks(
      Math.min(...points.map((p) => p.value)),
      Math.max(...points.map((p) => p.value)),
      height < 100 ? 3 : 4,
    );
    const yMin = yTicks.ticks[0] ?? 0;
    const yMax = yTicks.ticks.at(-1) ?? 1;
    const labels = yTicks.ticks.map((v) => formatTick(v, yTicks.step));
    ctx.font = "10px system-ui, sans-serif";
    const labelWidth = Math.max(...labels.map((l) => ctx.measureText(l).width));
    const pad = { left: Math.ceil(labelWidth) + 10, right: 10, top: 8, bottom: 18 };
    const plotW = Math.max(1, width - pad.left - pad.right);
    const plotH = Math.max(1, height - pad.top - pad.bottom);
    const t0 = points[0]?.time ?? 0;
    const t1 = Math.max(points.at(-1)?.time ?? 0, t0 + 1);
    const x = (/** @type {number} */ t) => pad.left + ((t - t0) / (t1 - t0)) * plotW;
    const y = (/** @type {number} */ v) => pad.top + (1 - (v - yMin) / (yMax - yMin)) * plotH;

    // Grid and y labels at the rounded ticks.
    ctx.fillStyle = "#6a7585";
    ctx.strokeStyle = "#eef1f5";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    yTicks.ticks.forEach((v, i) => {
      const py = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, py);
      ctx.lineTo(width - pad.right, py);
      ctx.stroke();
      ctx.fillText(labels[i] ?? "", pad.left - 6, py);
    });
    // Time ticks: as many as fit without their labels touching.
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    const step = timeStep(t1 - t0, Math.max(2, Math.floor(plotW / 80)));
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const px = Math.round(x(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(px, pad.top);
      ctx.lineTo(px, pad.top + plotH);
      ctx.stroke();
      // A label that would run off either side of the plot is left out, not cut.
      const label = formatTime(t, step);
      const half = ctx.measureText(label).width / 2;
      if (px - half >= pad.left - 4 && px + half <= width - 2) ctx.fillText(label, px, height - 4);
    }
    canvas.dataset.yTicks = labels.join(" ");

    // The area under the line, then the line, then the newest point.
    ctx.beginPath();
    points.forEach((p, i) =>
      i === 0 ? ctx.moveTo(x(p.time), y(p.value)) : ctx.lineTo(x(p.time), y(p.value))
    );
    ctx.strokeStyle = "#2563eb";
    ctx.lineWidth = 1.6;
    ctx.lineJoin = "round";
    ctx.stroke();
    ctx.lineTo(x(points.at(-1)?.time ?? t1), pad.top + plotH);
    ctx.lineTo(x(t0), pad.top + plotH);
    ctx.closePath();
    ctx.fillStyle = "rgba(37, 99, 235, 0.08)";
    ctx.fill();
    const last = points.at(-1);
    if (last) dot(ctx, x(last.time), y(last.value), "#2563eb");
    this.#drawHover(ctx, x, y, pad.top, pad.top + plotH);
  }

  /**
   * The point nearest the pointer: a vertical rule, a ring, and its recno, time and value.
   * @param {CanvasRenderingContext2D} ctx
   * @param {(t: number) => number} x
   * @param {(v: number) => number} y
   * @param {number} top
   * @param {number} bottom
   */
  #drawHover(ctx, x, y, top, bottom) {
    const hoverX = this.#hoverX;
    let nearest;
    if (hoverX !== undefined) {
      for (const p of this.#points) {
        // On a tie the newer point wins: records appended in one burst share an x.
        if (!nearest || Math.abs(x(p.time) - hoverX) <= Math.abs(x(nearest.time) - hoverX)) {
          nearest = p;
        }
      }
    }
    if (this.#readout) {
      this.#readout.hidden = !nearest;
      this.#readout.textContent = nearest
        ? `#${nearest.recno} · ${formatTime(nearest.time, 1)} · ${nearest.value}`
        : "";
    }
    if (!nearest) {
      delete this.canvas.dataset.hover;
      return;
    }
    this.canvas.dataset.hover = String(nearest.recno);
    const px = Math.round(x(nearest.time)) + 0.5;
    ctx.strokeStyle = "#94a3b8";
    ctx.beginPath();
    ctx.moveTo(px, top);
    ctx.lineTo(px, bottom);
    ctx.stroke();
    dot(ctx, x(nearest.time), y(nearest.value), "#1d4ed8", 4);
  }
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} cx
 * @param {number} cy
 * @param {string} color
 */
function dot(ctx, cx, cy, color, radius = 3) {
  ctx.beginPath();
  ctx.arc(cx, cy, radius, 0, 2 * Math.PI);
  ctx.fillStyle = color;
  ctx.fill();
}

/**
 * Rounded ticks that cover `min`…`max`: a step of 1, 2 or 5 × 10ⁿ, about `count` intervals.
 * @param {number} min
 * @param {number} max
 * @param {number} count
 * @returns {{ ticks: number[], step: number }}
 */
export function niceTicks(min, max, count) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { ticks: [0, 1], step: 1 };
  if (min === max) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.01 : 1;
    min -= pad;
    max += pad;
  }
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const first = Math.floor(min / step) * step;
  const ticks = [];
  for (let v = first; v < max + step / 2 && ticks.length < 50; v += step) ticks.push(v);
  if ((ticks.at(-1) ?? 0) < max) ticks.push((ticks.at(-1) ?? 0) + step);
  return { ticks, step };
}

/**
 * A tick's label with as many decimals as its step needs (no 19.660000000000004).
 * @param {number} v
 * @param {number} step
 */
export function formatTick(v, step) {
  const abs = Math.abs(v);
  if (abs !== 0 && (abs >= 1e7 || abs < 1e-4)) return v.toExponential(1);
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

/**
 * The time step for about `maxTicks` ticks over `spanMs`.
 * @param {number} spanMs
 * @param {number} maxTicks
 */
export function timeStep(spanMs, maxTicks) {
  return TIME_STEPS.find((s) => spanMs / s <= maxTicks) ??
    86400e3 * Math.ceil(spanMs / maxTicks / 86400e3);
}

/**
 * A time label as precise as the step: HH:MM for minutes, HH:MM:SS for seconds, and
 * milliseconds below that. Local time, 24-hour.
 * @param {number} ms
 * @param {number} step
 */
export function formatTime(ms, step) {
  const date = new Date(ms);
  const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
  const hm = `${two(date.getHours())}:${two(date.getMinutes())}`;
  if (step >= 60e3 && date.getSeconds() === 0) return hm;
  const hms = `${hm}:${two(date.getSeconds())}`;
  if (step >= 1000) return hms;
  // As many decimals as the step has: 06:45:55.5, not 06:45:55.500.
  const digits = step >= 100 ? 1 : step >= 10 ? 2 : 3;
  return `${hms}.${String(date.getMilliseconds()).padStart(3, "0").slice(0, digits)}`;
}

/**
 * The number a payload holds, or undefined: decimal text like "21.5" or "-3e2", or the first
 * numeric field of a small JSON object like {"celsius": 21.5}.
 * @param {string} text
 * @returns {number | undefined}
 */
export function numberIn(text) {
  if (/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text)) {
    return Number(text);
  }
  if (text.length > 4096 || !text.trimStart().startsWith("{")) return undefined;
  try {
    const value = Object.values(JSON.parse(text)).find((v) => typeof v === "number");
    return typeof value === "number" ? value : undefined;
  } catch {
    return undefined;
  }
}
