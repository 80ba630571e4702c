//! The CPU twin of shaders/image_grid.wgsl: the same grid, one packed
//! RGBA8 u32 per pixel (bytes R, G, B, A), rows `layout.width` long.

use crate::kernels::picture::GridLayout;

fn level(v: f32) -> u32 {
    ((v.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).floor() as u32
}

pub fn image_grid(images: &[f32], layout: &GridLayout) -> Vec<u32> {
    let [c, h, w] = layout.chw;
    let mut out = vec![u32::MAX; layout.width * layout.height];
    // The cells past the last image: transparent, as the kernel leaves them.
    let rows = (layout.height - 1) / (h + 1);
    for k in layout.images..rows * layout.cols {
        let (x0, y0) = (1 + (k % layout.cols) * (w + 1), 1 + (k / layout.cols) * (h + 1));
        for y in y0..y0 + h {
            out[y * layout.width + x0..y * layout.width + x0 + w].fill(0);
        }
    }
    for k in 0..layout.images {
        let im = &images[k * c * h * w..(k + 1) * c * h * w];
        let (x0, y0) = (1 + (k % layout.cols) * (w + 1), 1 + (k / layout.cols) * (h + 1));
        for y in 0..h {
            for x in 0..w {
                let at = |ch: usize| level(im[(ch * h + y) * w + x]);
                let (r, g, b) = if c == 3 {
                    (at(0), at(1), at(2))
                } else {
                    (at(0), at(0), at(0))
                };
                out[(y0 + y) * layout.width + x0 + x] = r | (g << 8) | (b << 16) | (255 << 24);
            }
        }
    }
    out
}
