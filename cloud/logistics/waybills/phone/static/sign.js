// A signature pad on a canvas (pointer events: finger, pen or mouse).
export class SignPad {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.drawn = false;
    this.last = null;
    this.clear();
    canvas.addEventListener("pointerdown", (e) => {
      canvas.setPointerCapture(e.pointerId);
      this.last = this.at(e);
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!this.last) return;
      const p = this.at(e);
      this.ctx.beginPath();
      this.ctx.moveTo(this.last.x, this.last.y);
      this.ctx.lineTo(p.x, p.y);
      this.ctx.stroke();
      this.last = p;
      this.drawn = true;
    });
    const end = () => {
      this.last = null;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  }

  at(e) {
    const r = this.canvas.getBoundingClientRect();
    return {
      x: ((e.clientX - r.left) * this.canvas.width) / r.width,
      y: ((e.clientY - r.top) * this.canvas.height) / r.height,
    };
  }

  clear() {
    this.ctx.fillStyle = "#fff";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.ctx.strokeStyle = "#111";
    this.ctx.lineWidth = 4;
    this.ctx.lineCap = "round";
    this.drawn = false;
  }

  /** The signature as base64 PNG (no data: prefix), or null when nothing was drawn. */
  png() {
    return this.drawn ? this.canvas.toDataURL("image/png").split(",")[1] : null;
  }
}
