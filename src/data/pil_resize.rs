//! Bilinear resizing as PIL's `Image.resize(…, BILINEAR)`, which
//! torchvision's Resize calls on PIL images (the reference's data
//! pipeline), byte for byte, so that our data batches are the reference's.
//! (The image crate's Triangle filter is the same filter computed in f32:
//! 1 grey level off on a tenth of Fashion-MNIST's pixels at 28 → 32.)
//! Two passes, horizontal first, each on 8-bit pixels with PIL's 22-bit
//! fixed-point weights (Pillow's libImaging/Resample.c). Pillow 13 takes
//! the vertical pass first for some reductions (measured: wherever the
//! height shrinks and the width grows, and for a few that shrink both,
//! mostly of tall images); there the two orders' roundings differ by 1
//! level on some pixels.

use image::RgbImage;

/// PIL's PRECISION_BITS: 32 − 8 − 2, so that a sum of 8-bit pixels times
/// weights fits an i32.
const PRECISION_BITS: u32 = 22;

/// One output pixel's taps: the first input pixel and its weights.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// PIL's precompute_coeffs for the triangle filter (support 1), stretched
/// by the scale when shrinking (antialiasing), then normalize_coeffs_8bpc:
/// each weight rounded half away from zero to PRECISION_BITS.
fn taps(in_size: u32, out_size: u32) -> Vec<Taps> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filter_scale = scale.max(1.0);
    let support = filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (f64::from(xx) + 0.5) * scale;
            // (C's (int) truncates toward zero.)
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).min(i64::from(in_size)) as usize;
            let raw: Vec<f64> = (first..end)
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                    if t < 1.0 { 1.0 - t } else { 0.0 }
                })
                .collect();
            let sum: f64 = raw.iter().sum();
            let unit = f64::from(1u32 << PRECISION_BITS);
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if sum != 0.0 { w / sum } else { w };
                    if w < 0.0 {
                        (-0.5 + w * unit) as i32
                    } else {
                        (0.5 + w * unit) as i32
                    }
                })
                .collect();
            Taps { first, weights }
        })
        .collect()
}

/// PIL's clip8: a fixed-point sum (with its half added) to a byte.
fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `img` resized to `width` × `height` as PIL's bilinear resize.
pub fn resize_bilinear(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let horizontal = taps(w, width);
    let vertical = taps(h, height);
    let half = 1i64 << (PRECISION_BITS - 1);
    // The horizontal pass over every input row (PIL passes only the rows
    // the vertical pass reads; the others are not used).
    let mut wide = RgbImage::new(width, h);
    if width == w {
        wide.clone_from(img);
    } else {
        for y in 0..h {
            for (xx, t) in horizontal.iter().enumerate() {
                let mut sum = [half; 3];
                for (i, &k) in t.weights.iter().enumerate() {
                    let p = img.get_pixel((t.first + i) as u32, y).0;
                    for c in 0..3 {
                        sum[c] += i64::from(p[c]) * i64::from(k);
                    }
                }
                wide.put_pixel(xx as u32, y, image::Rgb(sum.map(clip8)));
            }
        }
    }
    if height == h {
        return wide;
    }
    let mut out = RgbImage::new(width, height);
    for (yy, t) in vertical.iter().enumerate() {
        for x in 0..width {
            let mut sum = [half; 3];
            for (i, &k) in t.weights.iter().enumerate() {
                let p = wide.get_pixel(x, (t.first + i) as u32).0;
                for c in 0..3 {
                    sum[c] += i64::from(p[c]) * i64::from(k);
                }
            }
            out.put_pixel(x, yy as u32, image::Rgb(sum.map(clip8)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input both sides resize: a hash of (x, y, channel) in u32.
    fn pattern(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([0u32, 1, 2].map(|c| {
                let v = (x * 7919 + y * 104729 + c * 31337 + 17).wrapping_mul(2654435761);
                (v >> 24) as u8
            }))
        })
    }

    /// Byte for byte as Pillow 13.0.0's `pattern(13, 9).resize((w, h),
    /// Image.BILINEAR).tobytes()`, up (17 × 12), down (6 × 4), one
    /// direction only (13 × 5, 20 × 9) and narrower but taller (5 × 30),
    /// each of which Pillow does horizontal pass first.
    /// The expected bytes were written by Pillow, from the same pattern
    /// made in Python.
    #[test]
    fn resizes_byte_for_byte_as_pil() {
        let expected = include_str!("../../tests/data/pil_bilinear.txt");
        let img = pattern(13, 9);
        let mut cases = 0;
        for line in expected.lines().filter(|l| !l.starts_with('#')) {
            let mut f = line.split(' ');
            let w: u32 = f.next().unwrap().parse().unwrap();
            let h: u32 = f.next().unwrap().parse().unwrap();
            let hex = f.next().unwrap();
            let want: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let got = resize_bilinear(&img, w, h).into_raw();
            let off = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!((got.len(), off), (want.len(), 0), "{w}×{h}");
            cases += 1;
        }
        assert_eq!(cases, 5);
    }
}
