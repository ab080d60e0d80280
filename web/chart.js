// @ts-check
/**
 * A live line chart on a canvas for numeric payloads (GDP logs are mostly sensor readings):
 * the last points, with the y axis fitted to them.
 *
 * @module
 */

/** Points a chart keeps; older ones scroll out. */
const MAX_POINTS = 300;

export class LiveChart {
  /** @type {HTMLCanvasElement} */ canvas;
  /** @type {{ recno: number, value: number }[]} */ #points = [];

  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
  }

  /** Points shown now. */
  get size() {
    return this.#points.length;
  }

  /**
   * Adds a point; {@linkcode LiveChart.draw} shows it.
   * @param {number} recno
   * @param {number} value
   */
  add(recno, value) {
    this.#points.push({ recno, value });
    if (this.#points.length > MAX_POINTS) {
      this.#points.splice(0, this.#points.length - MAX_POINTS);
    }
    this.canvas.dataset.points = String(this.#points.length);
    this.canvas.dataset.last = String(value);
  }

  /** Redraws the chart (the panel calls it a few times a second at most). */
  draw() {
    const canvas = this.canvas;
    const ratio = globalThis.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) return;
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
    const values = this.#points.map((p) => p.value);
    let min = Math.min(...values);
    let max = Math.max(...values);
    if (min === max) {
      min -= 1;
      max += 1;
    }
    const pad = { left: 46, right: 10, top: 10, bottom: 16 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const x = (/** @type {number} */ i) =>
      pad.left +
      (values.length === 1 ? plotW : (i / (values.length - 1)) * plotW);
    const y = (/** @type {number} */ v) => pad.top + (1 - (v - min) / (max - min)) * plotH;

    // Grid and labels: min, middle, max.
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = "#6a7585";
    ctx.strokeStyle = "#eef1f5";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of [min, (min + max) / 2, max]) {
      ctx.beginPath();
      ctx.moveTo(pad.left, Math.round(y(v)) + 0.5);
      ctx.lineTo(width - pad.right, Math.round(y(v)) + 0.5);
      ctx.stroke();
      ctx.fillText(format(v), pad.left - 6, y(v));
    }
    const first = this.#points[0];
    const last = this.#points.at(-1);
    if (first && last) {
      ctx.textBaseline = "alphabetic";
      ctx.textAlign = "left";
      ctx.fillText(`#${first.recno}`, pad.left, height - 3);
      ctx.textAlign = "right";
      ctx.fillText(`#${last.recno}`, width - pad.right, height - 3);
    }

    // The area under the line, then the line, then the newest point.
    ctx.beginPath();
    values.forEach((v, i) => i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v)));
    ctx.strokeStyle = "#2563eb";
    ctx.lineWidth = 1.6;
    ctx.lineJoin = "round";
    ctx.stroke();
    ctx.lineTo(x(values.length - 1), pad.top + plotH);
    ctx.lineTo(x(0), pad.top + plotH);
    ctx.closePath();
    ctx.fillStyle = "rgba(37, 99, 235, 0.08)";
    ctx.fill();
    if (last) {
      ctx.beginPath();
      ctx.arc(x(values.length - 1), y(last.value), 3, 0, 2 * Math.PI);
      ctx.fillStyle = "#2563eb";
      ctx.fill();
    }
  }
}

/** @param {number} v */
function format(v) {
  const abs = Math.abs(v);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
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
