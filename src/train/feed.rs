//! Image data on the GPU: the whole set held as bytes, and gathers of
//! chosen images into the rows of a batch (the data batch X⁺, or the
//! starting states of data-initialised chains), so that no image crosses
//! the bus during training — only the indices do.

use crate::Result;
use crate::data::images::ImageSet;
use crate::gpu::Gpu;
use crate::kernels::sampling::GatherParams;
use crate::kernels::{GATHER_IMAGES, Launch};

/// An image set in one GPU buffer, 4 bytes per u32 word.
pub struct ImageStore {
    pub count: usize,
    pub dim: usize,
    bytes: wgpu::Buffer,
}

/// What to do about a data set too large for the adapter's buffers, for a
/// new run.
pub const FEWER_IMAGES: &str = "use fewer images with data.limit (e.g. --set data.limit=20000)";

/// … and for a checkpoint, which goes on only with the images it trained on.
pub const CHECKPOINT_TOO_LARGE: &str = "a checkpoint goes on only with the images it trained on, so open \
     it on an adapter that allows larger buffers (`ebmscope info` lists each one's limit)";

impl ImageStore {
    pub fn new(gpu: &Gpu, set: &ImageSet) -> Result<Self> {
        Self::check_fits(gpu, set, FEWER_IMAGES)?;
        let words = set.to_packed_bytes();
        let bytes = gpu.storage_buffer("data set bytes", words.len());
        gpu.queue.write_buffer(&bytes, 0, bytemuck::cast_slice(&words));
        Ok(ImageStore {
            count: set.n,
            dim: set.channels * set.size * set.size,
            bytes,
        })
    }

    /// Refuse `set` where its bytes pass the adapter's largest storage
    /// buffer, saying `fix`.
    pub fn check_fits(gpu: &Gpu, set: &ImageSet, fix: &str) -> Result<()> {
        let dim = set.channels * set.size * set.size;
        gpu.check_binding(
            &format!("the data set ({} images of {dim} bytes)", set.n),
            (set.n * dim).next_multiple_of(4) as u64,
            fix,
        )
    }

    /// Bytes of GPU memory the set takes.
    pub fn size_bytes(&self) -> u64 {
        self.bytes.size()
    }
}

/// Writes the chosen images, as f32 in [−1, 1], into the first `rows` rows of a buffer.
pub struct ImageGather {
    pub rows: usize,
    index: wgpu::Buffer,
    launch: Launch,
}

impl ImageGather {
    pub fn new(gpu: &Gpu, store: &ImageStore, dst: &wgpu::Buffer, rows: usize) -> Result<Self> {
        let index = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("image indices"),
            size: (rows.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let params = GatherParams {
            rows: rows as u32,
            row_len: store.dim as u32,
            ..GatherParams::default()
        };
        let launch = Launch::new(
            gpu,
            &GATHER_IMAGES,
            "gather images",
            &params,
            &[&index, &store.bytes, dst],
            rows * store.dim,
        )?;
        Ok(ImageGather { rows, index, launch })
    }

    /// Choose the images of the next submission (`rows` indices below the store's count).
    pub fn select(&self, gpu: &Gpu, indices: &[u32]) {
        debug_assert_eq!(indices.len(), self.rows);
        gpu.queue
            .write_buffer(&self.index, 0, bytemuck::cast_slice(indices));
    }

    pub fn record(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.launch.record(gpu, pass);
    }
}
