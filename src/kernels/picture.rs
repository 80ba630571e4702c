//! Pictures for the window made on the GPU: image batches laid out as one
//! RGBA8 grid (shaders/image_grid.wgsl) and copied into a texture that the
//! window draws directly — no copy through the CPU per frame.

use bytemuck::{Pod, Zeroable};

use super::{IMAGE_GRID, Launch};
use crate::gpu::Gpu;
use crate::{Error, Result};

/// Mirrors `struct GridParams` of image_grid.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GridParams {
    pub images: u32,
    pub channels: u32,
    pub height: u32,
    pub width: u32,
    pub cols: u32,
    pub grid_w: u32,
    pub grid_h: u32,
    pub row_words: u32,
}

/// Where images go in the grid: a near-square arrangement of `images`
/// [C, H, W] tiles with 1-pixel borders. Shared by the kernel and its CPU twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    pub images: usize,
    pub chw: [usize; 3],
    pub cols: usize,
    /// Picture size in pixels.
    pub width: usize,
    pub height: usize,
}

impl GridLayout {
    pub fn new(images: usize, chw: [usize; 3]) -> Result<Self> {
        let [c, h, w] = chw;
        if !(c == 1 || c == 3) || h == 0 || w == 0 || images == 0 {
            return Err(Error::Shape(format!(
                "a picture grid needs 1 or 3 channels and at least one non-empty image, not {images} × {chw:?}"
            )));
        }
        let cols = (images as f64).sqrt().ceil() as usize;
        let rows = images.div_ceil(cols);
        Ok(GridLayout {
            images,
            chw,
            cols,
            width: cols * (w + 1) + 1,
            height: rows * (h + 1) + 1,
        })
    }

    /// u32 per picture row in the GPU buffer: rows of 256-byte multiples,
    /// as `copy_buffer_to_texture` requires.
    pub fn row_words(&self) -> usize {
        self.width.div_ceil(64) * 64
    }

    fn params(&self) -> GridParams {
        let [c, h, w] = self.chw;
        GridParams {
            images: self.images as u32,
            channels: c as u32,
            height: h as u32,
            width: w as u32,
            cols: self.cols as u32,
            grid_w: self.width as u32,
            grid_h: self.height as u32,
            row_words: self.row_words() as u32,
        }
    }
}

/// The kernel bound to its source rows, its picture buffer and the texture
/// it fills (Rgba8UnormSrgb, as egui's own textures, so it looks the same).
pub struct ImageGrid {
    pub layout: GridLayout,
    launch: Launch,
    pixels: wgpu::Buffer,
    texture: wgpu::Texture,
}

impl ImageGrid {
    /// A grid of the first `layout.images` images of `src`.
    pub fn new(gpu: &Gpu, label: &str, src: &wgpu::Buffer, layout: GridLayout) -> Result<Self> {
        let need = (layout.images * layout.chw.iter().product::<usize>() * 4) as u64;
        if src.size() < need {
            return Err(Error::Shape(format!(
                "{label}: the source holds {} bytes, the grid reads {need}",
                src.size()
            )));
        }
        let pixels = gpu.storage_buffer(&format!("{label} pixels"), layout.row_words() * layout.height);
        let launch = Launch::new(
            gpu,
            &IMAGE_GRID,
            label,
            &layout.params(),
            &[src, &pixels],
            layout.width * layout.height,
        )?;
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width: layout.width as u32,
                height: layout.height as u32,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8UnormSrgb,
            usage: wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_DST
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        Ok(ImageGrid {
            layout,
            launch,
            pixels,
            texture,
        })
    }

    /// The picture kernel, then the copy into the texture.
    pub fn record(&self, gpu: &Gpu, encoder: &mut wgpu::CommandEncoder) {
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("image grid"),
                timestamp_writes: None,
            });
            self.launch.record(gpu, &mut pass);
        }
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: &self.pixels,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some((self.layout.row_words() * 4) as u32),
                    rows_per_image: Some(self.layout.height as u32),
                },
            },
            self.texture.as_image_copy(),
            self.extent(),
        );
    }

    /// Run it now.
    pub fn update(&self, gpu: &Gpu) {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        self.record(gpu, &mut encoder);
        gpu.submit(encoder.finish());
    }

    pub fn texture(&self) -> &wgpu::Texture {
        &self.texture
    }

    /// The picture as the kernel wrote it, [height, row_words] (tests).
    pub fn pixels_buffer(&self) -> &wgpu::Buffer {
        &self.pixels
    }

    fn extent(&self) -> wgpu::Extent3d {
        wgpu::Extent3d {
            width: self.layout.width as u32,
            height: self.layout.height as u32,
            depth_or_array_layers: 1,
        }
    }
}
