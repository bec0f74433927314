// Distances in drawing units: from the sheet's own scale (units per point) or from a calibration the user made
// on a known length, kept in localStorage per sheet revision.
import { distance } from "./geometry.js";
import { msg } from "./i18n.js";

const KEY = "liantu.calibration.";

export class Measure {
  constructor(context, tools) {
    this.context = context;
    this.tools = tools;
    this.result = document.getElementById("measure-result");
    this.form = document.getElementById("calibrate-form");
    this.input = document.getElementById("calibrate-length");
    this.last = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.calibrate(Number(this.input.value));
    });
  }

  /** Drawing units per sheet point and their name, or null when neither the sheet nor the user told. */
  units() {
    if (this.context.units_per_point) return { perPoint: this.context.units_per_point, units: this.context.units || "mm" };
    const stored = Number(localStorage.getItem(KEY + this.context.id));
    return stored > 0 ? { perPoint: stored, units: "mm" } : null;
  }

  show(a, b) {
    const points = distance(a, b);
    this.last = points;
    const known = this.units();
    let text;
    if (known) {
      text = msg("measure.distance", { value: format(points * known.perPoint), units: known.units });
      this.form.hidden = true;
    } else {
      text = msg("measure.points", { value: format(points) });
      this.form.hidden = points <= 0;
    }
    this.result.textContent = text;
    this.tools.drawMeasure(a, b, known ? format(points * known.perPoint) + " " + known.units : format(points) + " pt");
  }

  calibrate(length) {
    if (!(length > 0) || !this.last) {
      this.result.textContent = msg("calibrate.invalid");
      return;
    }
    const perPoint = length / this.last;
    localStorage.setItem(KEY + this.context.id, String(perPoint));
    this.form.hidden = true;
    this.result.textContent = msg("measure.calibrated", { value: format(perPoint) });
  }

  hint() {
    this.result.textContent = msg("measure.hint");
  }
}

function format(value) {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}
