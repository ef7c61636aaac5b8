// Reading QR codes with the phone's camera: the browser's BarcodeDetector where it has
// one (Chrome on Android), otherwise jsQR (vendor/jsQR.js, Apache-2.0, loaded on first
// use). Typing the code is always possible beside it.

let jsqrLoading = null;

function loadJsQR() {
  if (globalThis.jsQR) return Promise.resolve(globalThis.jsQR);
  if (!jsqrLoading) {
    jsqrLoading = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = new URL("./vendor/jsQR.js", import.meta.url).href;
      s.onload = () => resolve(globalThis.jsQR);
      s.onerror = () => {
        jsqrLoading = null;
        reject(new Error("jsQR did not load"));
      };
      document.head.append(s);
    });
  }
  return jsqrLoading;
}

/** A function (canvas-like source) -> Promise<string|null> that reads one QR code. */
export async function makeDecoder() {
  if ("BarcodeDetector" in globalThis) {
    try {
      const formats = await globalThis.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) {
        const detector = new globalThis.BarcodeDetector({ formats: ["qr_code"] });
        return {
          name: "BarcodeDetector",
          decode: async (source) => {
            const found = await detector.detect(source);
            return found.length ? found[0].rawValue : null;
          },
        };
      }
    } catch {
      // fall through to jsQR
    }
  }
  const jsQR = await loadJsQR();
  const canvas = document.createElement("canvas");
  const g = canvas.getContext("2d", { willReadFrequently: true });
  return {
    name: "jsQR",
    decode: async (source) => {
      const w = source.videoWidth || source.naturalWidth || source.width;
      const h = source.videoHeight || source.naturalHeight || source.height;
      if (!w || !h) return null;
      const scale = Math.min(1, 720 / Math.max(w, h)); // enough pixels, less work
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(h * scale);
      g.drawImage(source, 0, 0, canvas.width, canvas.height);
      const img = g.getImageData(0, 0, canvas.width, canvas.height);
      const found = jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
      return found ? found.data : null;
    },
  };
}

/**
 * Open the back camera into ``video`` and call ``onCode(text)`` with the first QR code
 * read (about 5 tries a second, not every frame). Returns stop().
 */
export async function startScan(video, onCode, onError) {
  let stopped = false;
  let stream = null;
  let timer = null;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    if (stream) for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
  try {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error("no camera API");
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 } },
      audio: false,
    });
    if (stopped) {
      stop();
      return stop;
    }
    video.srcObject = stream;
    await video.play();
    const decoder = await makeDecoder();
    video.dataset.decoder = decoder.name;
    const tick = async () => {
      if (stopped) return;
      try {
        const text = video.readyState >= 2 ? await decoder.decode(video) : null;
        if (text && !stopped) {
          stop();
          onCode(text);
          return;
        }
      } catch (err) {
        onError(err);
      }
      timer = setTimeout(tick, 200);
    };
    tick();
  } catch (err) {
    stop();
    onError(err);
  }
  return stop;
}
