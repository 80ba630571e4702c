//! Bilinear resizing as PIL's `Image.resize(…, BILINEAR)`, which
//! torchvision's Resize calls on PIL images (the reference's data
//! pipeline), byte for byte, so that our data batches are the reference's.
//! (The image crate's Triangle filter is the same filter computed in f32:
//! 1 grey level off on a tenth of Fashion-MNIST's pixels at 28 → 32.)
//! Two passes, each on 8-bit pixels with PIL's 22-bit fixed-point weights,
//! in the order Pillow's libImaging/Resample.c (ImagingResampleInner)
//! takes them: the two orders' roundings differ by 1 level on some pixels.

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

/// Whether PIL resizes `from` to `to` horizontal pass first: it does
/// unless the height shrinks by more than twice as many pixels as the
/// width does (Pillow 13's Resample.c, to make the second pass cheaper).
fn horizontal_first(from: (u32, u32), to: (u32, u32)) -> bool {
    let shrink_w = i64::from(from.0) - i64::from(to.0);
    let shrink_h = i64::from(from.1) - i64::from(to.1);
    !(shrink_h > 0 && shrink_h > 2 * shrink_w)
}

/// One pass of PIL's resample: along x (`along_x`) or y, each output pixel
/// the fixed-point sum of its taps, rounded and clipped as PIL's clip8.
fn resample_pass(img: &RgbImage, taps: &[Taps], along_x: bool) -> RgbImage {
    let (w, h) = img.dimensions();
    let (out_w, out_h) = if along_x {
        (taps.len() as u32, h)
    } else {
        (w, taps.len() as u32)
    };
    let half = 1i64 << (PRECISION_BITS - 1);
    RgbImage::from_fn(out_w, out_h, |x, y| {
        let t = &taps[(if along_x { x } else { y }) as usize];
        let mut sum = [half; 3];
        for (i, &k) in t.weights.iter().enumerate() {
            let at = (t.first + i) as u32;
            let p = if along_x {
                img.get_pixel(at, y)
            } else {
                img.get_pixel(x, at)
            };
            for (s, &v) in sum.iter_mut().zip(&p.0) {
                *s += i64::from(v) * i64::from(k);
            }
        }
        image::Rgb(sum.map(clip8))
    })
}

/// `img` resized to `width` × `height` as PIL's bilinear resize. A side
/// whose size does not change has no pass (PIL's need_horizontal and
/// need_vertical). (With the horizontal pass first, PIL passes only the
/// rows the vertical pass reads; the others are not used.)
pub fn resize_bilinear(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let along_x = |img: &RgbImage| {
        if width == w {
            img.clone()
        } else {
            resample_pass(img, &taps(w, width), true)
        }
    };
    let along_y = |img: &RgbImage| {
        if height == h {
            img.clone()
        } else {
            resample_pass(img, &taps(h, height), false)
        }
    };
    if horizontal_first((w, h), (width, height)) {
        along_y(&along_x(img))
    } else {
        along_x(&along_y(img))
    }
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
    /// Image.BILINEAR).tobytes()`: up (17 × 12), down (6 × 4), one
    /// direction only (13 × 5, 20 × 9) and narrower but taller (5 × 30),
    /// which Pillow does horizontal pass first, and 12 × 4, 11 × 2 (the
    /// height shrinks more than twice as much) and 20 × 3 (wider but
    /// shorter), vertical pass first.
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
        assert_eq!(cases, 8);
    }
}
