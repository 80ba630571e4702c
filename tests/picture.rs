//! The window's picture kernel (shaders/image_grid.wgsl) against its CPU
//! twin, pixel for pixel, and the texture it fills against the kernel's
//! buffer. Exact: the level of a value is floor((v + 1)·127.5 + 0.5) on
//! both sides, in f32; values are drawn away from level boundaries so that
//! a fused multiply-add on the GPU cannot move one by a level.

mod common;

use ebmscope::kernels::picture::{GridLayout, ImageGrid};
use ebmscope::reference::picture::image_grid;
use rand::{Rng, SeedableRng};

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // A level centre (x.0 after scaling) ± 0.3 level, some beyond ±1 (clamped).
            let level = rng.random_range(-20i32..=275) as f32;
            let jitter = rng.random_range(-0.3f32..0.3);
            (level + jitter) / 127.5 - 1.0
        })
        .collect()
}

#[test]
fn image_grid_matches_its_cpu_twin_and_fills_the_texture() {
    let gpu = common::gpu();
    for (images, chw, seed) in [
        (7, [1, 5, 4], 1u64),
        (10, [3, 6, 6], 2),
        (1, [3, 2, 3], 3),
        (100, [1, 8, 8], 4),
    ] {
        let len = images * chw.iter().product::<usize>();
        // The source holds more rows than the grid shows (as the chains buffer may).
        let src_values = values(len + 17, seed);
        let src = gpu.storage_buffer("picture source", src_values.len());
        gpu.write_f32(&src, 0, &src_values);
        let layout = GridLayout::new(images, chw).unwrap();
        let grid = ImageGrid::new(&gpu, "test grid", &src, layout).unwrap();
        grid.update(&gpu);

        let want = image_grid(&src_values, &layout);
        let padded: Vec<u32> = gpu
            .read_f32(grid.pixels_buffer(), 0, layout.row_words() * layout.height)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        let got: Vec<u32> = padded
            .chunks_exact(layout.row_words())
            .flat_map(|row| row[..layout.width].to_vec())
            .collect();
        let bad = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            bad,
            0,
            "{images} × {chw:?}: {bad} of {} pixels differ",
            want.len()
        );
        assert!(
            want.iter().any(|&p| p != u32::MAX),
            "the picture is not all border"
        );
        // The cells past the last image are transparent, no white image.
        let empty_cells = layout.cols * (layout.height - 1) / (chw[1] + 1) - images;
        let clear = want.iter().filter(|&&p| p == 0).count();
        assert_eq!(clear, empty_cells * chw[1] * chw[2], "{images} × {chw:?}");

        // The texture holds the same bytes.
        let tex = common::read_texture(&gpu, grid.texture(), [layout.width, layout.height]);
        assert_eq!(tex.len(), layout.width * layout.height);
        for (y, (t, p)) in tex
            .chunks_exact(layout.width)
            .zip(padded.chunks_exact(layout.row_words()))
            .enumerate()
        {
            assert_eq!(t, &p[..layout.width], "texture row {y}");
        }
    }
}

#[test]
fn bad_picture_shapes_are_refused() {
    assert!(GridLayout::new(4, [2, 3, 3]).is_err(), "2 channels");
    assert!(GridLayout::new(0, [1, 3, 3]).is_err(), "no images");
    let gpu = common::gpu();
    let small = gpu.storage_buffer("small", 10);
    let err = ImageGrid::new(&gpu, "grid", &small, GridLayout::new(2, [1, 3, 3]).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("reads"), "{err}");
}
