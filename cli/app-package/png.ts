/**
 * Minimal PNG encoder (RGBA, 8 bits per channel, no interlace) and the two Teams app icons, drawn in code so the
 * package needs no image files and no image library: only node:zlib.
 */
import { deflateSync } from 'node:zlib';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/* eslint-disable no-bitwise -- CRC-32 (ISO 3309, as the PNG specification requires) is defined on bits. */
const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of the bytes, as used in PNG chunks and zip entries. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}
/* eslint-enable no-bitwise */

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length, 0);
  const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData), 0);
  return Buffer.concat([length, typeAndData, crc]);
}

/** An RGBA raster: `pixels` holds width × height × 4 bytes, row by row. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly pixels: Uint8Array;
}

/** Encodes an RGBA raster as a PNG file (colour type 6, bit depth 8, filter type 0 on every row). */
export function encodePng(image: RgbaImage): Buffer {
  const { width, height, pixels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`invalid image size ${width}x${height}`);
  }
  if (pixels.length !== width * height * 4) {
    throw new Error(`expected ${width * height * 4} bytes of RGBA pixels, got ${pixels.length}`);
  }
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type 0 (None)
    Buffer.from(pixels.buffer, pixels.byteOffset + y * stride, stride).copy(raw, y * (stride + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** What the IHDR chunk of a PNG file says. */
export interface PngHeader {
  readonly width: number;
  readonly height: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  readonly colorType: number;
}

/** Reads the header of a PNG file: the signature, then the IHDR chunk. Throws when the bytes are not a PNG. */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 33 || !buf.subarray(0, 8).equals(PNG_SIGNATURE) || buf.toString('ascii', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG file');
  }
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), colorType: buf[25] };
}

/** Parses `#rrggbb`. */
export function parseHexColor(hex: string): [number, number, number] {
  const m = /^#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})$/.exec(hex);
  if (!m) {
    throw new Error(`invalid colour ${JSON.stringify(hex)}: expected #rrggbb`);
  }
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}

/**
 * The glyph: a speech bubble (rounded rectangle with a tail) holding a key-hole, in unit coordinates (0..1, y down).
 * Returns true where the glyph is opaque.
 */
function glyph(x: number, y: number): boolean {
  const inRoundedRect = (x0: number, y0: number, x1: number, y1: number, r: number): boolean => {
    if (x < x0 || x > x1 || y < y0 || y > y1) {
      return false;
    }
    const cx = Math.min(Math.max(x, x0 + r), x1 - r);
    const cy = Math.min(Math.max(y, y0 + r), y1 - r);
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
  };
  const inTriangle = (ax: number, ay: number, bx: number, by: number, cx: number, cy: number): boolean => {
    const d1 = (x - bx) * (ay - by) - (ax - bx) * (y - by);
    const d2 = (x - cx) * (by - cy) - (bx - cx) * (y - cy);
    const d3 = (x - ax) * (cy - ay) - (cx - ax) * (y - ay);
    const neg = d1 < 0 || d2 < 0 || d3 < 0;
    const pos = d1 > 0 || d2 > 0 || d3 > 0;
    return !(neg && pos);
  };
  const bubble = inRoundedRect(0.06, 0.1, 0.94, 0.72, 0.16) || inTriangle(0.22, 0.68, 0.46, 0.68, 0.16, 0.92);
  // Key-hole cut out of the bubble: a circle over a trapezoid-ish slot.
  const hole = (x - 0.5) ** 2 + (y - 0.33) ** 2 <= 0.085 ** 2 || inTriangle(0.5, 0.3, 0.43, 0.58, 0.57, 0.58);
  return bubble && !hole;
}

/** Fraction of the pixel (px, py) covered by the glyph drawn in the square [offset, offset + size], 4×4 supersampled. */
function coverage(px: number, py: number, offset: number, size: number): number {
  const samples = 4;
  let hits = 0;
  for (let sy = 0; sy < samples; sy++) {
    for (let sx = 0; sx < samples; sx++) {
      const x = (px + (sx + 0.5) / samples - offset) / size;
      const y = (py + (sy + 0.5) / samples - offset) / size;
      if (x >= 0 && x <= 1 && y >= 0 && y <= 1 && glyph(x, y)) {
        hits++;
      }
    }
  }
  return hits / (samples * samples);
}

/**
 * The colour icon: 192×192, opaque background in the accent colour, the glyph in white inside the central
 * 120×120 area (Teams' guidance keeps the symbol inside a safe region).
 */
export function colorIcon(accentColor: string): Buffer {
  const [r, g, b] = parseHexColor(accentColor);
  const size = 192;
  const pixels = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const a = coverage(x, y, 36, 120);
      const i = (y * size + x) * 4;
      pixels[i] = Math.round(r + (255 - r) * a);
      pixels[i + 1] = Math.round(g + (255 - g) * a);
      pixels[i + 2] = Math.round(b + (255 - b) * a);
      pixels[i + 3] = 255;
    }
  }
  return encodePng({ width: size, height: size, pixels });
}

/** The outline icon: 32×32, white glyph on a transparent background (only white pixels, alpha = coverage). */
export function outlineIcon(): Buffer {
  const size = 32;
  const pixels = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const a = coverage(x, y, 2, 28);
      const i = (y * size + x) * 4;
      const alpha = Math.round(a * 255);
      // RGB stays white everywhere (also under alpha 0): the icon holds no colour but white.
      pixels[i] = 255;
      pixels[i + 1] = 255;
      pixels[i + 2] = 255;
      pixels[i + 3] = alpha;
    }
  }
  return encodePng({ width: size, height: size, pixels });
}
