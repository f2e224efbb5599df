import { SkvqError } from '@skvq/core';

/** Renders an SVG to PNG with resvg (prebuilt native binary, loaded only when needed). */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  let Resvg: typeof import('@resvg/resvg-js').Resvg;
  try {
    ({ Resvg } = await import('@resvg/resvg-js'));
  } catch (error) {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `PNG output needs @resvg/resvg-js, which failed to load here (${(error as Error).message}); the SVG files are written regardless, or pass --no-png`,
    );
  }
  const resvg = new Resvg(svg, {
    font: { loadSystemFonts: true },
    fitTo: { mode: 'zoom', value: 2 },
  });
  return resvg.render().asPng();
}
