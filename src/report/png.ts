import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic-write';

/**
 * Renders an SVG document to PNG with sharp (librsvg). `scale` multiplies the SVG's own size (SVG units
 * are read at 72 dpi, so scale 2 renders at 144 dpi: sharp on high-density screens and in print).
 * Text uses the generic `sans-serif` family, which fontconfig maps to an installed font.
 */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale }).png({ compressionLevel: 9 }).toBuffer();
}

/** Renders `svg` and writes it to `file` atomically; returns the PNG bytes (e.g. to embed them). */
export async function writePng(file: string, svg: string, scale = 2): Promise<Buffer> {
  const png = await svgToPng(svg, scale);
  await writeFileAtomic(file, png);
  return png;
}
