//! Host side of the convolution family (shaders/conv2d_*.wgsl and
//! shaders/reduce_rows.wgsl): uniform structs, chunking of the weight
//! gradient, and the recording of one layer's forward and backward passes.

use bytemuck::{Pod, Zeroable};

use super::{
    CONV2D_FORWARD, CONV2D_FORWARD_TILED, CONV2D_FORWARD_UNIFORM, CONV2D_FORWARD_UNIFORM_VIEWS,
    CONV2D_INPUT_GRAD, CONV2D_INPUT_GRAD_TILED, CONV2D_INPUT_GRAD_UNIFORM, CONV2D_INPUT_GRAD_UNIFORM_VIEWS,
    CONV2D_SPLIT_SUM, CONV2D_WEIGHT_GRAD, CONV2D_WEIGHT_GRAD_TILED, CONV2D_WEIGHT_GRAD_UNIFORM,
    CONV2D_WEIGHT_VIEWS, DENSE_FORWARD, DENSE_FORWARD_SPLIT, DENSE_INPUT_GRAD, DENSE_WEIGHT_GRAD,
    LEAKY_RELU_GRAD, MAXPOOL2_FORWARD, MAXPOOL2_FORWARD_PAIRS, MAXPOOL2_INPUT_GRAD,
    MAXPOOL2_INPUT_GRAD_PAIRS, REDUCE_ROWS,
};
use crate::gpu::{ConvKernels, Gpu, WORKGROUP_SIZE};
use crate::model::{ConvGeometry, ConvSlot, GeometryKind};
use crate::{Error, Result};

/// Mirrors `struct ConvParams` of the conv2d shaders (checked by tests/shaders.rs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ConvParams {
    pub batch: u32,
    pub c_in: u32,
    pub h_in: u32,
    pub w_in: u32,
    pub c_out: u32,
    pub h_out: u32,
    pub w_out: u32,
    pub kernel: u32,
    pub stride: u32,
    pub padding: u32,
    pub leaky_relu: u32,
    pub weight_offset: u32,
    pub bias_offset: u32,
    pub batch_chunk: u32,
    pub n_chunks: u32,
    /// The tiled forward and ∂/∂x kernels split their depth over this many
    /// workgroups per tile (see [`depth_splits`]).
    pub forward_splits: u32,
    pub input_grad_splits: u32,
    /// vec4s of the forward weight view, where the ∂/∂x view starts (see
    /// shaders/conv2d_weight_views.wgsl and [`ConvParams::weight_views_len`]).
    pub grad_view_offset: u32,
    /// A direct forward or ∂/∂x dispatch computes the groups of 4 channels
    /// (output channels forward, input channels ∂/∂x) `view_group_first`
    /// … + `view_groups` − 1, whose weights start at vec4 `view_offset` of
    /// the views it binds (see [`ConvParams::view_chunks`]); 0 in the
    /// layer's own parameters.
    pub view_offset: u32,
    pub view_group_first: u32,
    pub view_groups: u32,
    /// A direct forward or ∂/∂x dispatch computes the layer's images
    /// `image_first` … + `batch` − 1, and reads them from its source
    /// binding from f32 `source_shift` on (see [`ConvParams::source_chunks`]);
    /// 0 in the layer's own parameters.
    pub image_first: u32,
    pub source_shift: u32,
    /// The direct ∂/∂θ dispatch reads ∂L/∂z from f32 `dz_shift` of its
    /// binding on (`source_shift`: its input); its chunks' rows of sums
    /// start at row `image_first / batch_chunk`.
    pub dz_shift: u32,
}

/// One dispatch of a direct forward or ∂/∂x pass (see [`ConvParams::view_chunks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewChunk {
    /// Its groups of 4 channels: `first` … `first + groups − 1`.
    pub first: u32,
    pub groups: u32,
    /// Where its uniform binding of [`UNIFORM_VIEWS_LEN`] vec4s starts in
    /// the views, in vec4s; None: the views bound whole, as storage.
    pub uniform_start: Option<usize>,
}

/// The images of one dispatch of a direct pass and where it reads its `N`
/// sources (forward: the input; ∂/∂x: ∂L/∂z; ∂/∂θ: both; see
/// [`ConvParams::source_chunks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceChunk<const N: usize> {
    /// Its images: `first` … `first + images − 1` of the layer's batch.
    pub first: u32,
    pub images: u32,
    /// Each source's uniform binding; None: the sources bound whole, as
    /// storage (one chunk of every image).
    pub bindings: Option<[SourceBinding; N]>,
}

/// A uniform binding of [`UNIFORM_SOURCE_LEN`] vec4s of a source: where it
/// starts in the buffer, and where the chunk's first image starts in it, in f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceBinding {
    pub start: usize,
    pub shift: u32,
}

impl<const N: usize> SourceChunk<N> {
    /// Where each source's first image starts in what the kernel binds.
    pub fn shifts(&self) -> [u32; N] {
        self.bindings.map_or([0; N], |b| b.map(|b| b.shift))
    }
}

/// How many of a pass's dispatches by images read uniform bindings (0: storage).
fn uniform_dispatches<const N: usize>(chunks: &[SourceChunk<N>]) -> usize {
    if chunks.iter().all(|c| c.bindings.is_some()) {
        chunks.len()
    } else {
        0
    }
}

/// A pass's chunks of images through uniform bindings where `uniform` and
/// they fit (`chunks(true)`), else its one chunk bound as storage.
fn uniform_or_storage<const N: usize>(
    uniform: bool,
    chunks: impl Fn(bool) -> Option<Vec<SourceChunk<N>>>,
) -> Vec<SourceChunk<N>> {
    uniform
        .then(|| chunks(true))
        .flatten()
        .or_else(|| chunks(false))
        .expect("storage takes every image")
}

/// Groups of 4 channels per invocation of a direct forward or ∂/∂x pass
/// whose views are uniform (CPU adapters): there a window of inputs (or of
/// ∂L/∂z) costs several times its multiply-adds to load, and weights
/// little, so one window feeds 8 channels (README, Performance). Passes on
/// storage views (GPUs), and passes whose dispatches have one group each,
/// keep 4 ([`ConvParams::channel_groups_for`]).
pub const UNIFORM_VIEWS_CHANNEL_GROUPS: u32 = 2;

/// The ∂/∂x view starts at a multiple of this many vec4s (256 bytes, the
/// largest offset alignment WebGPU lets an adapter ask of a binding), so
/// that a uniform binding of its groups may start there.
const VIEW_ALIGN_VEC4S: usize = 16;

/// The dispatches, by images, of a direct pass over `batch` images that
/// reads `N` sources, each `(f32 an image, f32 in its buffer)`. With
/// `uniform` bindings, each dispatch takes as many images as fit one
/// binding of [`UNIFORM_SOURCE_LEN`] vec4s of every source, each binding
/// starting at a multiple of `align` f32 (the adapter's alignment of
/// uniform bindings, a multiple of 4) and ending in its buffer, a multiple
/// of `granule` images but the last; None where a granule does not fit
/// (after a binding's start is rounded down to the alignment) or a buffer
/// is shorter than a binding. Else one dispatch of every image,
/// the sources bound whole as storage.
pub fn source_chunks<const N: usize>(
    batch: usize,
    granule: usize,
    sources: [(usize, usize); N],
    uniform: bool,
    align: usize,
) -> Option<Vec<SourceChunk<N>>> {
    if !uniform {
        return Some(vec![SourceChunk {
            first: 0,
            images: batch as u32,
            bindings: None,
        }]);
    }
    let binding = 4 * UNIFORM_SOURCE_LEN;
    if sources.iter().any(|&(_, len)| len < binding) || align == 0 || !align.is_multiple_of(4) {
        return None;
    }
    let (mut first, mut chunks) = (0, Vec::new());
    while first < batch {
        let bindings = sources.map(|(image, len)| {
            let at = first * image;
            // (The last start whose binding ends within the buffer.)
            let start = (at / align * align).min((len - binding) / align * align);
            SourceBinding {
                start,
                shift: (at - start) as u32,
            }
        });
        let fit = (sources.iter().zip(&bindings))
            .map(|(&(image, _), b)| (binding - b.shift as usize) / image)
            .min()
            .unwrap_or(batch);
        let images = if fit >= batch - first {
            batch - first
        } else {
            fit / granule.max(1) * granule.max(1)
        };
        if images == 0 {
            return None;
        }
        chunks.push(SourceChunk {
            first: first as u32,
            images: images as u32,
            bindings: Some(bindings),
        });
        first += images;
    }
    Some(chunks)
}

/// `len` bytes of `buffer` from byte `start`, as a binding.
fn buffer_range(buffer: &wgpu::Buffer, start: usize, len: usize) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer,
        offset: start as u64,
        size: std::num::NonZeroU64::new(len as u64),
    })
}

/// Mirrors `struct ReduceParams` of reduce_rows.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ReduceParams {
    pub rows: u32,
    pub row_len: u32,
    pub dst_offset: u32,
    pub _pad: u32,
}

/// Mirrors `struct SplitSumParams` of conv2d_split_sum.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SplitSumParams {
    pub len: u32,
    pub splits: u32,
    pub plane: u32,
    pub channels: u32,
    pub with_bias: u32,
    pub bias_offset: u32,
    pub leaky_relu: u32,
    /// ∂/∂x of a layer whose ∂/∂x applies the LeakyReLU backward of the
    /// layer before ([`LeakyReluFusion`]).
    pub input_leaky_relu: u32,
}

/// Output block of one workgroup of the tiled kernels: TILE_M channels ×
/// TILE_N positions (taps for the weight gradient), the depth of the
/// slices it multiplies them in, and its invocations (8 × 8 outputs
/// each). Mirrors gemm_tile.wgsl (checked by tests/shaders.rs).
pub const TILE_M: usize = 64;
pub const TILE_N: usize = 128;
pub const TILE_K: usize = 16;
pub const TILE_THREADS: usize = 128;

/// What [`Gpu::dispatch`] is given for `tiles` workgroups of a tiled
/// kernel: it counts workgroups in WORKGROUP_SIZE invocations, whatever a
/// kernel's own workgroup size (TILE_THREADS here), one per tile.
fn tile_workgroups(tiles: usize) -> usize {
    tiles * WORKGROUP_SIZE as usize
}

/// vec4s of the direct forward and weight-gradient kernels' input window
/// (WINDOW_VEC4S in conv_input_window.wgsl): 4 output columns' taps of one
/// input row are 3·stride plus kernel values, which fit for kernels and
/// strides up to 7 (VanillaNet's and NonlocalNet's kernels are 3 and 4,
/// strides 1 and 2).
pub const INPUT_WINDOW_VEC4S: u32 = 8;

/// Taps of a kernel row the direct weight-gradient kernel sums at most
/// (within ACC_MAX in conv2d_weight_grad.wgsl); wider kernels run tiled.
pub const WEIGHT_GRAD_KERNEL_MAX: u32 = 8;

/// Taps a direct weight-gradient invocation accumulates at most (ACC_MAX
/// in conv2d_weight_grad.wgsl): on lavapipe 8 and 9 (a 4×4 kernel's two
/// rows, a 3×3's three) ran in 0.78–0.85× the instructions of one row, 16
/// (a 4×4's four) in 1.44×, its accumulators spilled.
pub const WEIGHT_GRAD_ACCUMULATORS: u32 = 9;

/// Values of the direct ∂/∂x kernel's ∂L/∂z window (DZ_WINDOW_MAX in
/// conv2d_input_grad.wgsl): ⌈kernel / stride⌉ + 3, which fit for kernels up
/// to 13 at any stride.
pub const INPUT_GRAD_WINDOW_MAX: u32 = 16;

/// vec4s of weight views one uniform binding holds, where
/// [`Gpu::uniform_weight_views`] says so (UNIFORM_VIEWS_LEN in
/// conv_weight_views_uniform.wgsl): 64 KiB, the binding size WebGPU
/// guarantees. A direct pass runs a dispatch per binding (see
/// [`ConvParams::view_chunks`]): VanillaNet-8's fourth convolution (32 → 64
/// channels, 4×4) two a pass, VanillaNet-32's last 32.
pub const UNIFORM_VIEWS_LEN: usize = 4096;

/// vec4s of a uniform binding of a direct kernel's source (the layer input
/// forward, ∂L/∂z for ∂/∂x, both for ∂/∂θ; conv_source_uniform.wgsl and
/// conv_dz_uniform.wgsl): 64 KiB.
pub const UNIFORM_SOURCE_LEN: usize = 4096;

/// A tiled forward or ∂/∂x pass with at most half this many tiles splits
/// its depth (the K of its product) over several workgroups per tile,
/// aiming at this many in all, whose sums
/// conv2d_split_sum adds: a GPU core hides one workgroup's waits behind
/// another's arithmetic only when it has several, and VanillaNet-32's
/// deepest layers have 52–200 tiles for GPUs of 100 cores and more. On an
/// NVIDIA H200 (132 cores) 256 ran VanillaNet-32's passes faster than 512
/// and 1 024 (f.2's forward 0.094 ms against 0.116: the split sum costs
/// more than it spreads there) and than 128, 64 or no splits (f.6's
/// forward 0.100 against 0.124–0.228) …
const SPLIT_TARGET_WORKGROUPS: usize = 256;
/// … each split summing at least this many TILE_K-deep slices …
const SPLIT_MIN_SLICES: usize = 16;
/// … into at most this many splits.
const MAX_SPLITS: usize = 8;

/// How many splits a tiled pass of `tiles` tiles and depth `depth` runs
/// (see SPLIT_TARGET_WORKGROUPS). The kernels give each split the same
/// number of whole slices, the last the rest: none is left empty (but in
/// ∂/∂x, a residue class with fewer taps than the deepest may have empty
/// splits; they write zeros).
pub fn depth_splits(tiles: usize, depth: usize) -> u32 {
    let slices = depth.div_ceil(TILE_K);
    let wanted = (SPLIT_TARGET_WORKGROUPS / tiles.max(1))
        .min(slices / SPLIT_MIN_SLICES)
        .clamp(1, MAX_SPLITS);
    slices.div_ceil(slices.div_ceil(wanted)).max(1) as u32
}

/// Which of a convolution's passes run the tiled kernels (the others run
/// the direct ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TiledPasses {
    pub forward: bool,
    pub input_grad: bool,
    pub weight_grad: bool,
}

impl TiledPasses {
    /// Every pass tiled (`true`) or every pass direct.
    pub fn all(tiled: bool) -> Self {
        TiledPasses {
            forward: tiled,
            input_grad: tiled,
            weight_grad: tiled,
        }
    }

    /// The passes of a convolution of geometry `g` that run tiled by
    /// default on hardware GPUs. A tile's rows are output channels in the
    /// forward pass and ∂/∂θ, and input channels in ∂/∂x. A forward or
    /// ∂/∂x pass runs tiled where its rows fill a tile, else direct (whose
    /// groups of 4 channels waste at most 3 of 4): on an NVIDIA H200 the
    /// tiled kernels were the faster in all 8 such passes of VanillaNet-32
    /// and NonlocalNet-32 and the direct ones in all 4 of 32 rows (half a
    /// tile; README, Performance). ∂/∂θ runs tiled wherever it fills half
    /// a tile.
    pub fn by_shape(g: &ConvGeometry) -> Self {
        let fills_half_a_tile = |rows: usize| rows >= TILE_M / 2;
        let fills_a_tile = |rows: usize| rows >= TILE_M;
        TiledPasses {
            forward: fills_a_tile(g.c_out),
            input_grad: fills_a_tile(g.c_in),
            weight_grad: fills_half_a_tile(g.c_out),
        }
    }

    /// Per pass, the family `time(tiled, pass)` (seconds; passes 0, 1, 2:
    /// forward, ∂/∂x, ∂/∂θ) finds faster: the fastest of MEASURED_TRIALS
    /// times each, taken in turns so that a change of clock speed reaches
    /// both families (the first turn doubles as a warm-up).
    pub fn measured(mut time: impl FnMut(bool, usize) -> Result<f64>) -> Result<Self> {
        let mut best = [[f64::INFINITY; 3]; 2];
        for _ in 0..MEASURED_TRIALS {
            for (family, best) in best.iter_mut().enumerate() {
                for (pass, best) in best.iter_mut().enumerate() {
                    *best = best.min(time(family == 1, pass)?);
                }
            }
        }
        Ok(Self::faster(best[0], best[1]))
    }

    /// Per pass (forward, ∂/∂x, ∂/∂θ), the tiled kernel where it took less
    /// time than the direct one; a tie keeps the direct kernel.
    pub fn faster(direct_s: [f64; 3], tiled_s: [f64; 3]) -> Self {
        let tiled = |pass: usize| tiled_s[pass] < direct_s[pass];
        TiledPasses {
            forward: tiled(0),
            input_grad: tiled(1),
            weight_grad: tiled(2),
        }
    }
}

/// What `ConvKernels::Measured` times a layer by: its `ConvParams` without
/// the parameter offsets (the shape, batch, chunking of the batch and
/// splits), and whether the direct kernels read uniform views (their speed
/// depends on it).
pub type MeasuredKey = ([u32; std::mem::size_of::<ConvParams>() / 4], bool);

/// Of the measured choice: each pass is timed this many times per family …
pub const MEASURED_TRIALS: usize = 3;
/// … each time over this many dispatches in one submission, so that the
/// submission's own cost (in wall time) weighs little.
const MEASURED_DISPATCHES: usize = 4;

/// Dense layers with at least this many inputs run dense_forward_split (a
/// workgroup per image and 4 outputs, the row split over it) rather than
/// dense_forward (an invocation per image and 4 outputs): VanillaNet's last
/// layer (4 096 inputs) and NonlocalNet's first Linear (2 048), not
/// ToyNet's (64), whose rows are short enough for one invocation; except
/// with the direct kernels (CPU adapters' default), as on lavapipe the split's
/// workgroup sum costs more than it spreads: NonlocalNet-8's first Linear
/// on 16 images, counted, 22.5·10⁶ instructions a forward pass split,
/// 10.4·10⁶ not.
pub const DENSE_SPLIT_MIN_INPUTS: usize = 256;

/// Aim for at least this many blocks of the weight gradient (4 output
/// channels × 4 taps of one chunk, `ConvParams::weight_grad_blocks`) by
/// splitting the batch into chunks (layers with few weights have little
/// parallelism otherwise) …
const WEIGHT_GRAD_TARGET_BLOCKS: usize = 1 << 14;

/// … but give each chunk at least this many output positions to sum:
/// below that, writing and reducing the chunks' partial sums costs more than
/// the sums (dense layers have one position per image; measured on ToyNet's
/// 64×64 layers with 200 images: chunks of 4 images ran at 1 GFLOP/s).
const WEIGHT_GRAD_MIN_POSITIONS: usize = 64;

/// The tiled ∂/∂θ has a workgroup per chunk and tile of its weights
/// (output channels × taps): chunk the batch for at least this many
/// workgroups (on an NVIDIA H200, VanillaNet-32's ∂/∂θ of 200 images took
/// f.2 0.212 ms with it, 0.743 without: 8 chunks of 4 tiles) …
const TILED_WEIGHT_GRAD_TARGET_WORKGROUPS: usize = 256;
/// … where each chunk keeps at least this many positions (16 slices of
/// TILE_K) to sum.
const TILED_WEIGHT_GRAD_MIN_POSITIONS: usize = 256;

fn u32_of(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::Shape(format!(
            "{what} = {v} exceeds the 32-bit indexing of the kernels; use a smaller batch"
        ))
    })
}

impl ConvParams {
    /// Parameters of one layer for `batch` images, with its weight at
    /// `weight_offset` and bias at `bias_offset` of the flat parameter
    /// vector, as the kernels run it: a whole-window convolution as the
    /// dense layer it is ([`ConvGeometry::as_dense`]).
    pub fn new(g: &ConvGeometry, batch: usize, weight_offset: usize, bias_offset: usize) -> Result<Self> {
        let dense = g.as_dense();
        let g = dense.as_ref().unwrap_or(g);
        // Every flat index the kernels form must fit in u32.
        u32_of("batch × layer input size", batch * g.in_len())?;
        u32_of("batch × layer output size", batch * g.out_len())?;
        let mut p = ConvParams {
            batch: u32_of("batch", batch)?,
            c_in: g.c_in as u32,
            h_in: g.h_in as u32,
            w_in: g.w_in as u32,
            c_out: g.c_out as u32,
            h_out: g.h_out as u32,
            w_out: g.w_out as u32,
            kernel: g.kernel as u32,
            stride: g.stride as u32,
            padding: g.padding as u32,
            leaky_relu: u32::from(g.leaky_relu),
            weight_offset: u32_of("parameter offset", weight_offset)?,
            bias_offset: u32_of("parameter offset", bias_offset)?,
            batch_chunk: 1,
            n_chunks: 1,
            ..Default::default()
        };
        let positions = batch * g.h_out * g.w_out;
        let tiled_chunks = TILED_WEIGHT_GRAD_TARGET_WORKGROUPS
            .div_ceil(p.weight_grad_tiles())
            .min(positions / TILED_WEIGHT_GRAD_MIN_POSITIONS);
        let wanted_chunks = WEIGHT_GRAD_TARGET_BLOCKS
            .div_ceil(p.weight_grad_blocks())
            .max(tiled_chunks)
            .min(positions / WEIGHT_GRAD_MIN_POSITIONS)
            .clamp(1, batch.max(1));
        let batch_chunk = batch.max(1).div_ceil(wanted_chunks);
        p.batch_chunk = batch_chunk as u32;
        p.n_chunks = batch.max(1).div_ceil(batch_chunk) as u32;
        // ∂/∂x's depth is the largest residue class's, output channels × taps.
        p.forward_splits = depth_splits(p.forward_tiles(), g.c_in * g.kernel * g.kernel);
        p.input_grad_splits =
            depth_splits(p.input_grad_tiles(), g.c_out * g.kernel.div_ceil(g.stride).pow(2));
        // (Only convolutions read weight views; views larger than one GPU
        // buffer are refused where they are made, in with_passes.)
        if g.kind == GeometryKind::Conv && !g.is_dense() {
            let taps = g.kernel * g.kernel;
            let forward_view = g.c_out.div_ceil(4) * g.c_in * taps;
            p.grad_view_offset = u32_of(
                "weight view size",
                forward_view.next_multiple_of(VIEW_ALIGN_VEC4S),
            )?;
        }
        Ok(p)
    }

    /// The override constants of the input window (conv_input_window.wgsl)
    /// of the direct forward and weight-gradient kernels for this layer, or
    /// None where the window of 4 output columns does not fit
    /// [`INPUT_WINDOW_VEC4S`] (the layer's forward and weight gradient then
    /// run tiled).
    pub fn window_constants(&self) -> Option<[(&'static str, f64); 5]> {
        // Rows of whole vec4s are read as vec4s, from the multiple of 4 at
        // or before the window's first column, unless that shift leaves
        // the window too little room.
        let window = 3 * self.stride + self.kernel;
        let fits = |shift| shift + window <= 4 * INPUT_WINDOW_VEC4S;
        let vec4_shift = self.padding.next_multiple_of(4) - self.padding;
        let x_vec4 = self.w_in.is_multiple_of(4) && fits(vec4_shift);
        let shift = if x_vec4 { vec4_shift } else { 0 };
        fits(shift).then_some([
            ("KERNEL", f64::from(self.kernel)),
            ("STRIDE", f64::from(self.stride)),
            ("PADDING", f64::from(self.padding)),
            ("X_VEC4", f64::from(u8::from(x_vec4))),
            ("WINDOW_SHIFT", f64::from(shift)),
        ])
    }

    /// The override constants of the direct weight-gradient kernel
    /// (conv2d_weight_grad.wgsl): the input window's and DZ_VEC4 (output
    /// rows of whole vec4s); None where the window does not fit or a
    /// kernel row has more than [`WEIGHT_GRAD_KERNEL_MAX`] taps (the
    /// layer's weight gradient then runs tiled).
    pub fn weight_grad_constants(&self) -> Option<[(&'static str, f64); 7]> {
        let [a, b, c, d, e] = self.window_constants()?;
        let dz_vec4 = f64::from(u8::from(self.w_out.is_multiple_of(4)));
        let rows = ("ROWS", f64::from(self.weight_grad_rows()));
        (self.kernel <= WEIGHT_GRAD_KERNEL_MAX).then_some([a, b, c, d, e, ("DZ_VEC4", dz_vec4), rows])
    }

    /// Kernel rows a direct weight-gradient invocation sums, so that each
    /// ∂L/∂z load serves them all: 3 or 2 where they divide the kernel and
    /// their taps fit [`WEIGHT_GRAD_ACCUMULATORS`] (a 3×3 kernel's 3 rows, a
    /// 4×4's 2 and 2), else 1.
    pub fn weight_grad_rows(&self) -> u32 {
        [3, 2]
            .into_iter()
            .find(|&r| self.kernel.is_multiple_of(r) && r * self.kernel <= WEIGHT_GRAD_ACCUMULATORS)
            .unwrap_or(1)
    }

    /// The override constants of the direct ∂/∂x kernel
    /// (conv2d_input_grad.wgsl) for this layer, or None where the window of
    /// ∂L/∂z values its 4 input columns read does not fit the kernel's
    /// [`INPUT_GRAD_WINDOW_MAX`] (the layer's ∂/∂x then runs tiled).
    pub fn input_grad_constants(&self) -> Option<[(&'static str, f64); 5]> {
        let taps = self.kernel.div_ceil(self.stride);
        // With stride 1 every invocation's window starts at padding −
        // (kernel − 1) past its first column, a multiple of 4: where output
        // rows are whole vec4s it is read as vec4s from the multiple of 4
        // at or before it, DZ_SHIFT values earlier, if that leaves room.
        let shift = (i64::from(self.padding) - i64::from(self.kernel) + 1).rem_euclid(4) as u32;
        let dz_vec4 =
            self.stride == 1 && self.w_out.is_multiple_of(4) && shift + taps + 3 <= INPUT_GRAD_WINDOW_MAX;
        (taps + 3 <= INPUT_GRAD_WINDOW_MAX).then_some([
            ("KERNEL", f64::from(self.kernel)),
            ("STRIDE", f64::from(self.stride)),
            ("PADDING", f64::from(self.padding)),
            ("DZ_VEC4", f64::from(u8::from(dz_vec4))),
            ("DZ_SHIFT", f64::from(if dz_vec4 { shift } else { 0 })),
        ])
    }

    /// Whether max-pooling runs two windows an invocation, reading a vec4
    /// of each input row (the maxpool2_*_pairs kernels): rows of whole vec4s.
    pub fn pool_pairs(&self) -> bool {
        self.w_in.is_multiple_of(4)
    }

    /// Whether a dense layer's kernels read its input rows and weight rows
    /// as vec4s (dense_rows.wgsl's ROWS_VEC4): both start at multiples of 4
    /// and hold whole vec4s.
    pub fn dense_rows_vec4(&self) -> bool {
        self.c_in.is_multiple_of(4) && self.weight_offset.is_multiple_of(4)
    }

    /// vec4s of the weight views the direct kernels read (forward and ∂/∂x).
    pub fn weight_views_len(&self) -> usize {
        let (groups, group_len, start) = self.view_groups_of(false);
        start + groups as usize * group_len
    }

    /// A direct pass's groups of 4 channels (output channels forward, input
    /// channels ∂/∂x), the vec4s of views each group reads, and where its
    /// view starts.
    fn view_groups_of(&self, forward: bool) -> (u32, usize, usize) {
        let taps = (self.kernel * self.kernel) as usize;
        if forward {
            (self.c_out.div_ceil(4), self.c_in as usize * taps, 0)
        } else {
            (
                self.c_in.div_ceil(4),
                self.c_out as usize * taps,
                self.grad_view_offset as usize,
            )
        }
    }

    /// The dispatches of the direct forward (`forward`) or ∂/∂x pass. With
    /// `uniform` views, each takes as many groups of 4 channels as fit one
    /// uniform binding of [`UNIFORM_VIEWS_LEN`] vec4s starting at a
    /// multiple of `align` vec4s (the adapter's alignment of uniform
    /// bindings), or None where one group's weights do not fit; else one
    /// dispatch of every group, the views bound whole as storage.
    pub fn view_chunks(&self, forward: bool, uniform: bool, align: usize) -> Option<Vec<ViewChunk>> {
        let (groups, group_len, start) = self.view_groups_of(forward);
        if !uniform {
            return Some(vec![ViewChunk {
                first: 0,
                groups,
                uniform_start: None,
            }]);
        }
        // (Both views start at multiples of VIEW_ALIGN_VEC4S.)
        if align > VIEW_ALIGN_VEC4S || group_len == 0 {
            return None;
        }
        let per_chunk = (1..=UNIFORM_VIEWS_LEN / group_len)
            .rev()
            .find(|n| (n * group_len).is_multiple_of(align))?;
        let chunks = (0..groups as usize).step_by(per_chunk).map(|first| ViewChunk {
            first: first as u32,
            groups: per_chunk.min(groups as usize - first) as u32,
            uniform_start: Some(start + first * group_len),
        });
        Some(chunks.collect())
    }

    /// Groups of 4 channels per invocation of a direct pass run as `chunks`
    /// ([`ConvParams::view_chunks`]): [`UNIFORM_VIEWS_CHANNEL_GROUPS`] on
    /// uniform views, unless no dispatch has two groups (each invocation
    /// would compute its one twice); 1 on storage views.
    pub fn channel_groups_for(chunks: &[ViewChunk]) -> u32 {
        let uniform = chunks.iter().all(|c| c.uniform_start.is_some());
        if uniform && chunks.iter().any(|c| c.groups > 1) {
            UNIFORM_VIEWS_CHANNEL_GROUPS
        } else {
            1
        }
    }

    /// The dispatches (by images) of the direct forward (`forward`: its
    /// source the input) or ∂/∂x pass (∂L/∂z), its source in a buffer of
    /// `source_len` f32: see [`source_chunks`].
    pub fn source_chunks(
        &self,
        forward: bool,
        uniform: bool,
        source_len: usize,
        align: usize,
    ) -> Option<Vec<SourceChunk<1>>> {
        let image = if forward { self.in_len() } else { self.out_len() };
        source_chunks(self.batch as usize, 1, [(image, source_len)], uniform, align)
    }

    /// The same for the direct ∂/∂θ pass, whose sources are the input and
    /// ∂L/∂z (`[x_len, dz_len]` f32 in their buffers): each dispatch but
    /// the last takes whole chunks of the batch (`batch_chunk` images), as
    /// each chunk writes its own row of sums.
    pub fn weight_grad_source_chunks(
        &self,
        uniform: bool,
        [x_len, dz_len]: [usize; 2],
        align: usize,
    ) -> Option<Vec<SourceChunk<2>>> {
        let sources = [(self.in_len(), x_len), (self.out_len(), dz_len)];
        source_chunks(
            self.batch as usize,
            self.batch_chunk as usize,
            sources,
            uniform,
            align,
        )
    }

    /// f32 of an image's input and output.
    fn in_len(&self) -> usize {
        (self.c_in * self.h_in * self.w_in) as usize
    }
    fn out_len(&self) -> usize {
        (self.c_out * self.h_out * self.w_out) as usize
    }

    /// f32 of the `partial` scratch the layer's kernels need: the weight
    /// gradient's sums per chunk of the batch and, for a tiled forward or
    /// ∂/∂x pass split over its depth, each split's sums.
    pub fn partial_len(&self) -> usize {
        let (p, batch) = (self, self.batch as usize);
        // (A pass that is not split writes its output directly.)
        let split = |splits: u32, len: u32| {
            if splits > 1 {
                (splits * len) as usize * batch
            } else {
                0
            }
        };
        (p.n_chunks as usize * p.grad_row_len())
            .max(split(p.forward_splits, p.c_out * p.h_out * p.w_out))
            .max(split(p.input_grad_splits, p.c_in * p.h_in * p.w_in))
    }

    /// Blocks of 4 output channels × 4 taps of one image's weight gradient:
    /// what the batch's chunking counts, whichever kernel runs the pass
    /// (dense_weight_grad has an invocation per block and chunk).
    fn weight_grad_blocks(&self) -> usize {
        let taps = self.c_in * self.kernel * self.kernel;
        (self.c_out.div_ceil(4) * taps.div_ceil(4)) as usize
    }

    /// Tiles of the tiled forward pass: output channels × positions (each
    /// split over the depth is a workgroup more per tile).
    fn forward_tiles(&self) -> usize {
        let positions = (self.batch * self.h_out * self.w_out) as usize;
        (self.c_out as usize).div_ceil(TILE_M) * positions.div_ceil(TILE_N)
    }

    /// Tiles of the tiled ∂/∂x: per residue class of the stride, input
    /// channels × the class's pixels (every class tiled as the largest).
    fn input_grad_tiles(&self) -> usize {
        let s = self.stride;
        let class_pixels = (self.batch * self.h_in.div_ceil(s) * self.w_in.div_ceil(s)) as usize;
        (s * s) as usize * (self.c_in as usize).div_ceil(TILE_M) * class_pixels.div_ceil(TILE_N)
    }

    /// Tiles of one chunk's tiled ∂/∂θ: output channels × taps.
    fn weight_grad_tiles(&self) -> usize {
        let taps = (self.c_in * self.kernel * self.kernel) as usize;
        (self.c_out as usize).div_ceil(TILE_M) * taps.div_ceil(TILE_N)
    }

    /// Length of one row of the weight-gradient partial sums (weights then biases).
    pub fn grad_row_len(&self) -> usize {
        (self.c_out * self.c_in * self.kernel * self.kernel + self.c_out) as usize
    }
}

/// Buffers one layer reads and writes. `params` and `grads` are the flat
/// parameter and gradient vectors of the whole network.
pub struct ConvBuffers<'a> {
    pub input: &'a wgpu::Buffer,
    pub output: &'a wgpu::Buffer,
    pub params: &'a wgpu::Buffer,
    pub grad_output: &'a wgpu::Buffer,
    pub grad_input: &'a wgpu::Buffer,
    pub grads: &'a wgpu::Buffer,
    /// Scratch of at least [`ConvParams::partial_len`] f32.
    pub partial: &'a wgpu::Buffer,
    /// Scratch of at least `batch · out_len` f32 for ∂L/∂(pre-activation) of
    /// a layer with LeakyReLU whose next layer does not apply its backward
    /// (leaky_relu_grad.wgsl); layers use it one after another within a
    /// backward pass.
    pub dz: &'a wgpu::Buffer,
    /// Which LeakyReLU backward the next layer's ∂/∂x kernel applies.
    pub leaky_relu_fusion: LeakyReluFusion,
}

/// Where the backward of a LeakyReLU between two layers runs: in the first
/// layer's own pass (leaky_relu_grad.wgsl: it reads ∂L/∂y and y, and writes
/// ∂L/∂(pre-activation) to the scratch), or, where the second layer's ∂/∂x
/// kernel can (see [`ConvLayer::applies_input_leaky_relu`]), in that
/// kernel's stores, which then write ∂L/∂(pre-activation) of the first
/// layer in place of ∂L/∂y: one pass and a scratch round trip less per
/// backward pass, and no scratch (every LeakyReLU of GpuNet's nets: none
/// is followed by a non-local block).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakyReluFusion {
    /// This layer's LeakyReLU backward is the next layer's: its ∂L/∂output
    /// buffer holds ∂L/∂(pre-activation).
    pub output_by_next: bool,
    /// This layer's ∂/∂x applies the LeakyReLU backward of the layer
    /// before, whose output is its input.
    pub input: bool,
}

impl LeakyReluFusion {
    /// Each layer's, for a chain of layers of geometry `chain` (GpuNet's):
    /// a LeakyReLU's backward runs in the next layer's ∂/∂x wherever that
    /// kernel can apply it.
    pub fn of_chain(chain: &[ConvGeometry]) -> Vec<LeakyReluFusion> {
        let by_next = |i: usize| {
            chain[i].leaky_relu && chain.get(i + 1).is_some_and(ConvLayer::applies_input_leaky_relu)
        };
        (0..chain.len())
            .map(|i| LeakyReluFusion {
                output_by_next: by_next(i),
                input: i > 0 && by_next(i - 1),
            })
            .collect()
    }
}

/// A convolution's three passes, each one kernel.
#[derive(Clone, Copy)]
enum ConvPass {
    Forward,
    InputGrad,
    WeightGrad,
}

/// Which kernel family a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LayerKernels {
    /// conv2d_*: any convolution, each pass direct or tiled (implicit GEMM).
    Conv(TiledPasses),
    /// dense_*: 1×1 images (see [`ConvGeometry::as_dense`]); `split`: the
    /// forward pass runs dense_forward_split (see DENSE_SPLIT_MIN_INPUTS).
    Dense { split: bool },
    /// maxpool2_*.
    MaxPool,
}

/// A kernel bound to a layer's buffers, with its number of invocations
/// (conv2d_split_sum, conv2d_weight_views).
type BoundKernel = (std::sync::Arc<wgpu::ComputePipeline>, wgpu::BindGroup, usize);

/// A pass's pipeline and its dispatches, each a bind group and its number
/// of invocations: one, or for a direct pass that reads its weight views
/// from uniform buffers, one per binding (see [`ConvParams::view_chunks`]).
type PassKernel = (
    std::sync::Arc<wgpu::ComputePipeline>,
    Vec<(wgpu::BindGroup, usize)>,
);

/// One layer's pipelines, uniforms and bind groups, made once and recorded
/// into passes as often as needed (no allocation per step).
pub struct ConvLayer {
    pub params: ConvParams,
    kind: LayerKernels,
    forward: PassKernel,
    /// dz from ∂L/∂output and the output, for a layer with LeakyReLU whose
    /// next layer does not apply its backward ([`LeakyReluFusion`]).
    output_grad: Option<(std::sync::Arc<wgpu::ComputePipeline>, wgpu::BindGroup)>,
    input_grad: PassKernel,
    /// Weight gradient (a dispatch per chunk of images whose sources it
    /// reads from uniform bindings, see [`ConvParams::weight_grad_source_chunks`])
    /// and its reduction (None for max-pooling, which has no weights).
    weight_grad: Option<(
        PassKernel,
        (std::sync::Arc<wgpu::ComputePipeline>, wgpu::BindGroup),
    )>,
    /// conv2d_split_sum after a tiled forward or ∂/∂x pass split over its
    /// depth, with the number of outputs it adds up.
    forward_sum: Option<BoundKernel>,
    input_grad_sum: Option<BoundKernel>,
    /// conv2d_weight_views, for a convolution with a direct forward or
    /// ∂/∂x pass (which read the weights through its views), with its
    /// number of invocations.
    weight_views: Option<BoundKernel>,
    /// Uniform bindings of the weight views the direct forward and ∂/∂x
    /// passes read (0: the views as storage, or a tiled pass).
    uniform_view_chunks: [usize; 2],
    /// Chunks of images the forward, ∂/∂x and ∂/∂θ passes read through
    /// uniform bindings of their sources (0: storage, or a tiled pass).
    uniform_source_chunks: [usize; 3],
    _uniforms: Vec<wgpu::Buffer>,
}

impl ConvLayer {
    /// Whether a layer of geometry `g` can apply the LeakyReLU backward of
    /// the layer before in its ∂/∂x kernel ([`LeakyReluFusion`]): max-pooling
    /// (LeakyReLU' at each window's maximum, which it has found), dense
    /// layers and convolutions (an input load per stored value, in the
    /// direct and tiled kernels and the split sums). Not a non-local block,
    /// whose ∂/∂x is the sum of several passes.
    pub fn applies_input_leaky_relu(g: &ConvGeometry) -> bool {
        g.kind != GeometryKind::NonLocal
    }

    /// A convolution or 2×2 max-pooling layer of geometry `g` for `batch`
    /// images, its weight and bias (if any) at `slot` of the parameter vector.
    pub fn new(
        gpu: &Gpu,
        label: &str,
        g: &ConvGeometry,
        batch: usize,
        slot: ConvSlot,
        b: &ConvBuffers,
    ) -> Result<Self> {
        // A whole-window convolution runs as the dense layer it is (as
        // ConvParams::new describes it).
        let dense = g.as_dense();
        let g = dense.as_ref().unwrap_or(g);
        let passes = match gpu.conv_kernels() {
            ConvKernels::Direct => TiledPasses::all(false),
            ConvKernels::Tiled => TiledPasses::all(true),
            // Dense layers have kernels of their own, a long row's forward
            // split over a workgroup (DENSE_SPLIT_MIN_INPUTS) but with the
            // direct family; max-pooling has one.
            _ if g.is_dense() => TiledPasses::all(true),
            ConvKernels::ByShape => TiledPasses::by_shape(g),
            ConvKernels::Measured if g.kind == GeometryKind::Conv => {
                Self::measured_passes(gpu, label, g, batch, slot, b)?
            }
            ConvKernels::Measured => TiledPasses::all(false),
        };
        Self::with_passes(gpu, label, g, batch, slot, b, passes)
    }

    /// Per pass, the family that ran faster on this layer's shape and batch,
    /// timed on the layer's own buffers (a new net's scratch: nothing there
    /// is kept) the first time this device builds the shape.
    fn measured_passes(
        gpu: &Gpu,
        label: &str,
        g: &ConvGeometry,
        batch: usize,
        slot: ConvSlot,
        b: &ConvBuffers,
    ) -> Result<TiledPasses> {
        let key: MeasuredKey = (
            bytemuck::cast(ConvParams::new(g, batch, 0, 0)?),
            gpu.uniform_weight_views(),
        );
        if let Some(passes) = gpu.measured_passes(&key) {
            return Ok(passes);
        }
        let families = [
            Self::with_passes(gpu, label, g, batch, slot, b, TiledPasses::all(false))?,
            Self::with_passes(gpu, label, g, batch, slot, b, TiledPasses::all(true))?,
        ];
        let passes = TiledPasses::measured(|tiled, pass| {
            let layer = &families[usize::from(tiled)];
            let which = [ConvPass::Forward, ConvPass::InputGrad, ConvPass::WeightGrad][pass];
            gpu.seconds_of(&format!("{label} measured kernels"), |p| {
                for _ in 0..MEASURED_DISPATCHES {
                    layer.record_pass(gpu, p, which);
                }
            })
        })?;
        gpu.remember_measured_passes(key, passes);
        Ok(passes)
    }

    /// A layer whose convolution passes run the kernels `passes` chooses.
    fn with_passes(
        gpu: &Gpu,
        label: &str,
        g: &ConvGeometry,
        batch: usize,
        slot: ConvSlot,
        b: &ConvBuffers,
        passes: TiledPasses,
    ) -> Result<Self> {
        let params = ConvParams::new(g, batch, slot.weight, slot.bias)?;
        let uniform = gpu.uniform_buffer(&format!("{label} conv params"), &params);
        let reduce_params = ReduceParams {
            rows: params.n_chunks,
            row_len: params.grad_row_len() as u32,
            dst_offset: params.weight_offset,
            _pad: 0,
        };
        let reduce_uniform = gpu.uniform_buffer(&format!("{label} reduce params"), &reduce_params);
        // A kernel's pipeline (specialised by `constants`) bound to `buffers`.
        let specialised =
            |shader: &super::Shader, constants: &[(&str, f64)], buffers: &[&wgpu::Buffer]| -> Result<_> {
                let pipeline = gpu.specialised_pipeline(shader, constants)?;
                let group = gpu.bind_group(&format!("{label} {}", shader.name), &pipeline, buffers);
                Ok((pipeline, group))
            };
        let make = |shader: &super::Shader, buffers: &[&wgpu::Buffer]| specialised(shader, &[], buffers);
        let fusion = b.leaky_relu_fusion;
        let input_leaky_relu = ("INPUT_LEAKY_RELU", f64::from(u8::from(fusion.input)));
        if g.kind == GeometryKind::MaxPool2 {
            let kind = LayerKernels::MaxPool;
            let (forward, input_grad) = if params.pool_pairs() {
                (&MAXPOOL2_FORWARD_PAIRS, &MAXPOOL2_INPUT_GRAD_PAIRS)
            } else {
                (&MAXPOOL2_FORWARD, &MAXPOOL2_INPUT_GRAD)
            };
            let (forward, group) = make(forward, &[&uniform, b.input, b.output])?;
            let forward = (forward, vec![(group, Self::out_elems(kind, &params))]);
            let (input_grad, group) = specialised(
                input_grad,
                &[input_leaky_relu],
                &[&uniform, b.grad_output, b.input, b.grad_input],
            )?;
            let input_grad = (input_grad, vec![(group, Self::in_elems(kind, &params))]);
            return Ok(ConvLayer {
                params,
                kind,
                forward,
                output_grad: None,
                input_grad,
                weight_grad: None,
                forward_sum: None,
                input_grad_sum: None,
                weight_views: None,
                uniform_view_chunks: [0, 0],
                uniform_source_chunks: [0, 0, 0],
                _uniforms: vec![uniform, reduce_uniform],
            });
        }
        // A direct pass whose window does not fit its kernel runs tiled.
        let forward_constants = params.window_constants();
        let input_grad_constants = params.input_grad_constants();
        let weight_grad_constants = params.weight_grad_constants();
        let passes = TiledPasses {
            forward: passes.forward || forward_constants.is_none(),
            input_grad: passes.input_grad || input_grad_constants.is_none(),
            weight_grad: passes.weight_grad || weight_grad_constants.is_none(),
        };
        let (kind, [forward, input_grad, weight_grad]) = if g.is_dense() {
            let split = g.c_in >= DENSE_SPLIT_MIN_INPUTS && passes.forward;
            let forward = if split {
                &DENSE_FORWARD_SPLIT
            } else {
                &DENSE_FORWARD
            };
            let shaders = [forward, &DENSE_INPUT_GRAD, &DENSE_WEIGHT_GRAD];
            (LayerKernels::Dense { split }, shaders)
        } else {
            let pick = |tiled, [direct, tiled_kernel]: [&'static super::Shader; 2]| {
                if tiled { tiled_kernel } else { direct }
            };
            let shaders = [
                pick(passes.forward, [&CONV2D_FORWARD, &CONV2D_FORWARD_TILED]),
                pick(passes.input_grad, [&CONV2D_INPUT_GRAD, &CONV2D_INPUT_GRAD_TILED]),
                pick(
                    passes.weight_grad,
                    [&CONV2D_WEIGHT_GRAD, &CONV2D_WEIGHT_GRAD_TILED],
                ),
            ];
            (LayerKernels::Conv(passes), shaders)
        };
        // The gradient kernels read dz = ∂L/∂(pre-activation): with
        // LeakyReLU, leaky_relu_grad writes it to the scratch (unless the
        // next layer's ∂/∂x has, into ∂L/∂output); without, it is ∂L/∂output.
        // It reads and writes whole vec4s (Gpu::activation_buffer's).
        let (output_grad, dz) = if params.leaky_relu != 0 && !fusion.output_by_next {
            let outputs = (params.batch * params.c_out * params.h_out * params.w_out) as u64;
            let whole = 4 * outputs.next_multiple_of(4);
            for (what, buffer) in [
                ("∂L/∂(pre-activation) scratch", b.dz),
                ("output", b.output),
                ("∂L/∂output", b.grad_output),
            ] {
                if buffer.size() < whole {
                    return Err(Error::Shape(format!(
                        "{label}: the {what} buffer holds {} f32, the layer needs {} (its {outputs} \
                         outputs in whole vec4s; make it with Gpu::activation_buffer)",
                        buffer.size() / 4,
                        whole / 4
                    )));
                }
            }
            let launch = make(&LEAKY_RELU_GRAD, &[&uniform, b.grad_output, b.output, b.dz])?;
            (Some(launch), b.dz)
        } else {
            (None, b.grad_output)
        };
        let tiled = match kind {
            LayerKernels::Conv(t) => t,
            _ => TiledPasses::all(false),
        };
        // A tiled pass split over its depth writes each split's sums into
        // the scratch, and conv2d_split_sum adds them into the output.
        let mut uniforms = vec![uniform, reduce_uniform];
        let mut split_sum = |splits: u32, out: &wgpu::Buffer, forward: bool| -> Result<_> {
            if splits <= 1 {
                return Ok(None);
            }
            let p = &params;
            let (channels, plane) = if forward {
                (p.c_out, p.h_out * p.w_out)
            } else {
                (p.c_in, p.h_in * p.w_in)
            };
            let sum = SplitSumParams {
                len: p.batch * channels * plane,
                splits,
                plane,
                channels,
                with_bias: u32::from(forward),
                bias_offset: p.bias_offset,
                leaky_relu: if forward { p.leaky_relu } else { 0 },
                input_leaky_relu: u32::from(!forward && fusion.input),
            };
            let uniform = gpu.uniform_buffer(&format!("{label} split sum params"), &sum);
            // (The layer input, read by ∂/∂x's LeakyReLU'; bound for the
            // forward sum too, which never reads it: the layout has it.)
            let (pipeline, group) = make(&CONV2D_SPLIT_SUM, &[&uniform, b.partial, b.params, out, b.input])?;
            uniforms.push(uniform);
            Ok(Some((pipeline, group, sum.len as usize)))
        };
        let forward_sum = split_sum(
            if tiled.forward { params.forward_splits } else { 1 },
            b.output,
            true,
        )?;
        let input_grad_sum = split_sum(
            if tiled.input_grad {
                params.input_grad_splits
            } else {
                1
            },
            b.grad_input,
            false,
        )?;
        // (The tiled kernels bind the scratch for their splits' sums; the
        // direct ones read the weights through the views.)
        let uniform = &uniforms[0];
        let direct = matches!(kind, LayerKernels::Conv(t) if !(t.forward && t.input_grad));
        // A direct pass reads the views from uniform bindings where the
        // device's choice, its limits and the layer's shape allow.
        let align = (gpu.limits.min_uniform_buffer_offset_alignment as usize).div_ceil(16);
        let uniform_allowed = gpu.uniform_weight_views()
            && 16 * UNIFORM_VIEWS_LEN as u64 <= gpu.limits.max_uniform_buffer_binding_size;
        let chunks = |forward: bool, tiled_pass: bool| -> Option<Vec<ViewChunk>> {
            if !direct || tiled_pass {
                return None;
            }
            let uniform = uniform_allowed
                .then(|| params.view_chunks(forward, true, align))
                .flatten();
            uniform.or_else(|| params.view_chunks(forward, false, align))
        };
        let [forward_chunks, input_grad_chunks] =
            [chunks(true, tiled.forward), chunks(false, tiled.input_grad)];
        let uniform_count = |c: &Option<Vec<ViewChunk>>| {
            c.as_ref()
                .map_or(0, |c| c.iter().filter(|c| c.uniform_start.is_some()).count())
        };
        let uniform_view_chunks = [uniform_count(&forward_chunks), uniform_count(&input_grad_chunks)];
        // A pass on uniform views reads its source (the input forward,
        // ∂L/∂z for ∂/∂x) through uniform bindings too, a dispatch each,
        // where the buffer can be bound so (a uniform buffer, as nets make
        // on such devices: Gpu::activation_buffer) and one image fits a
        // binding; else bound whole, as storage.
        let source_align = (gpu.limits.min_uniform_buffer_offset_alignment as usize)
            .div_ceil(4)
            .next_multiple_of(4);
        let can_bind = |source: &wgpu::Buffer| {
            gpu.uniform_weight_views()
                && source.usage().contains(wgpu::BufferUsages::UNIFORM)
                && 16 * UNIFORM_SOURCE_LEN as u64 <= gpu.limits.max_uniform_buffer_binding_size
        };
        let len_of = |source: &wgpu::Buffer| (source.size() / 4) as usize;
        let source_chunks = |forward: bool, views: &Option<Vec<ViewChunk>>, source: &wgpu::Buffer| {
            let uniform = views.as_ref().is_some_and(|c| c[0].uniform_start.is_some()) && can_bind(source);
            uniform_or_storage(uniform, |uniform| {
                params.source_chunks(forward, uniform, len_of(source), source_align)
            })
        };
        let forward_sources = source_chunks(true, &forward_chunks, b.input);
        let input_grad_sources = source_chunks(false, &input_grad_chunks, dz);
        // The direct weight gradient likewise, on CPU adapters, its input
        // and ∂L/∂z each through a uniform binding.
        let direct_weight_grad = matches!(kind, LayerKernels::Conv(t) if !t.weight_grad);
        let weight_grad_sources = uniform_or_storage(
            direct_weight_grad && can_bind(b.input) && can_bind(dz),
            |uniform| params.weight_grad_source_chunks(uniform, [len_of(b.input), len_of(dz)], source_align),
        );
        let uniform_source_chunks = [
            uniform_dispatches(&forward_sources),
            uniform_dispatches(&input_grad_sources),
            uniform_dispatches(&weight_grad_sources),
        ];
        // vec4s of the views buffer: every uniform binding holds all
        // UNIFORM_VIEWS_LEN vec4s the kernels declare.
        let views_len = [&forward_chunks, &input_grad_chunks]
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|c| c.uniform_start)
            .map(|start| start + UNIFORM_VIEWS_LEN)
            .fold(params.weight_views_len(), usize::max);
        if direct {
            // (The views kernel binds the whole buffer as storage.)
            gpu.check_binding(
                &format!("{label}'s weight views"),
                16 * views_len as u64,
                "use a narrower net (net.n_f) or the tiled kernels (--conv-kernels tiled)",
            )?;
        }
        let views = direct.then(|| {
            let also = if uniform_view_chunks == [0, 0] {
                wgpu::BufferUsages::empty()
            } else {
                wgpu::BufferUsages::UNIFORM
            };
            gpu.storage_buffer_also(&format!("{label} weight views"), 4 * views_len, also)
        });
        let weight_views = match &views {
            Some(views) => {
                let (pipeline, group) = make(&CONV2D_WEIGHT_VIEWS, &[uniform, b.params, views])?;
                Some((pipeline, group, params.weight_views_len()))
            }
            None => None,
        };
        // A direct pass: the kernel specialised to the layer's shape, a
        // dispatch per chunk of its channel groups, each with its own
        // parameters, and the views at `views_binding` bound whole
        // (storage) or by the chunk's 64 KiB (uniform); and a dispatch per
        // chunk of its images, the source (`source_binding`: input or
        // ∂L/∂z) bound whole (storage, again as vec4s at
        // `source_vec4_binding` where the kernel reads them) or by the
        // chunk's 64 KiB (uniform, where the views are).
        let mut pass_uniforms = Vec::new();
        let mut direct_pass = |chunks: &[ViewChunk],
                               sources: &[SourceChunk<1>],
                               [storage_kernel, uniform_views_kernel, uniform_kernel]: [&super::Shader;
                                   3],
                               constants: &[(&str, f64)],
                               forward: bool,
                               buffers: &[&wgpu::Buffer],
                               [views_binding, source_binding]: [usize; 2],
                               source_vec4_binding: Option<usize>|
         -> Result<PassKernel> {
            let views = views.as_ref().expect("a direct pass has views");
            let uniform_views = chunks[0].uniform_start.is_some();
            let uniform_source = sources[0].bindings.is_some();
            let kernel = match (uniform_views, uniform_source) {
                (false, false) => storage_kernel,
                (true, false) => uniform_views_kernel,
                (true, true) => uniform_kernel,
                (false, true) => unreachable!("a uniform source goes with uniform views"),
            };
            let (_, _, view_start) = params.view_groups_of(forward);
            let channel_groups = ConvParams::channel_groups_for(chunks);
            let constants = [constants, &[("CHANNEL_GROUPS", f64::from(channel_groups))]].concat();
            let pipeline = gpu.specialised_pipeline(kernel, &constants)?;
            // (Buffer i is bound at binding i; a uniform source's variant
            // has no vec4 binding.)
            let mut dispatches = Vec::new();
            for chunk in chunks {
                for source in sources {
                    let [source_shift] = source.shifts();
                    let pass_params = ConvParams {
                        view_offset: if uniform_views { 0 } else { view_start as u32 },
                        view_group_first: chunk.first,
                        view_groups: chunk.groups,
                        batch: source.images,
                        image_first: source.first,
                        source_shift,
                        ..params
                    };
                    let chunk_uniform =
                        gpu.uniform_buffer(&format!("{label} {} params", kernel.name), &pass_params);
                    let resources = buffers
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| !(uniform_source && Some(i) == source_vec4_binding))
                        .map(|(i, buffer)| {
                            let resource = match (chunk.uniform_start, source.bindings) {
                                (Some(start), _) if i == views_binding => {
                                    buffer_range(views, 16 * start, 16 * UNIFORM_VIEWS_LEN)
                                }
                                (_, Some([bound])) if i == source_binding => {
                                    buffer_range(buffer, 4 * bound.start, 16 * UNIFORM_SOURCE_LEN)
                                }
                                _ if i == 0 => chunk_uniform.as_entire_binding(),
                                _ => buffer.as_entire_binding(),
                            };
                            (i as u32, resource)
                        })
                        .collect();
                    let group =
                        gpu.bind_group_numbered(&format!("{label} {}", kernel.name), &pipeline, resources);
                    let invocations = Self::direct_invocations(&pass_params, forward, channel_groups);
                    dispatches.push((group, invocations));
                    pass_uniforms.push(chunk_uniform);
                }
            }
            Ok((pipeline, dispatches))
        };
        // The direct convolutions are specialised to the layer's shape (the
        // forward binds x twice, as f32s and as vec4s, ∂/∂x ∂L/∂z); without views and
        // not tiled: a dense layer's kernels. (A direct pass has its
        // constants: a window that does not fit made the pass tiled.)
        const FITS: &str = "a direct pass whose window does not fit runs tiled";
        let rows_vec4 = ("ROWS_VEC4", f64::from(u8::from(params.dense_rows_vec4())));
        let once = |(pipeline, group), invocations| -> PassKernel { (pipeline, vec![(group, invocations)]) };
        // (The tiled forward and ∂/∂x are specialised to the kernel size,
        // ∂/∂x to the stride too: gemm_tile.wgsl's digits.)
        let tiled_kernel = ("KERNEL", f64::from(params.kernel));
        let forward = match (&forward_chunks, views.as_ref()) {
            (Some(chunks), Some(views)) => direct_pass(
                chunks,
                &forward_sources,
                [forward, &CONV2D_FORWARD_UNIFORM_VIEWS, &CONV2D_FORWARD_UNIFORM],
                forward_constants.as_ref().expect(FITS),
                true,
                &[uniform, b.input, b.params, b.output, views, b.input],
                [4, 1],
                Some(5),
            )?,
            _ if tiled.forward => once(
                specialised(
                    forward,
                    &[tiled_kernel],
                    &[uniform, b.input, b.params, b.output, b.partial],
                )?,
                Self::out_elems(kind, &params),
            ),
            _ => {
                // (A direct convolution pass has its chunks, above: this
                // is a dense layer's, x and params bound again as vec4s.)
                once(
                    specialised(
                        forward,
                        &[rows_vec4],
                        &[uniform, b.input, b.params, b.output, b.input, b.params],
                    )?,
                    Self::out_elems(kind, &params),
                )
            }
        };
        let input_grad = match (&input_grad_chunks, views.as_ref()) {
            (Some(chunks), Some(views)) => direct_pass(
                chunks,
                &input_grad_sources,
                [
                    input_grad,
                    &CONV2D_INPUT_GRAD_UNIFORM_VIEWS,
                    &CONV2D_INPUT_GRAD_UNIFORM,
                ],
                &[
                    input_grad_constants.as_ref().expect(FITS),
                    &[input_leaky_relu][..],
                ]
                .concat(),
                false,
                &[uniform, dz, views, b.grad_input, dz, b.input],
                [2, 1],
                Some(4),
            )?,
            _ if tiled.input_grad => once(
                specialised(
                    input_grad,
                    &[
                        input_leaky_relu,
                        tiled_kernel,
                        ("STRIDE", f64::from(params.stride)),
                    ],
                    &[uniform, dz, b.params, b.grad_input, b.partial, b.input],
                )?,
                Self::in_elems(kind, &params),
            ),
            // (A dense layer's, params bound again as vec4s, then x.)
            _ => once(
                specialised(
                    input_grad,
                    &[rows_vec4, input_leaky_relu],
                    &[uniform, dz, b.params, b.grad_input, b.params, b.input],
                )?,
                Self::in_elems(kind, &params),
            ),
        };
        // The direct convolution's weight gradient binds x and dz twice, as
        // f32s and as vec4s (storage), or each by a chunk's uniform binding.
        let weight_grad = match kind {
            LayerKernels::Conv(t) if !t.weight_grad => {
                let constants = weight_grad_constants.as_ref().expect(FITS);
                let uniform_sources = weight_grad_sources[0].bindings.is_some();
                let kernel = if uniform_sources {
                    &CONV2D_WEIGHT_GRAD_UNIFORM
                } else {
                    weight_grad
                };
                let pipeline = gpu.specialised_pipeline(kernel, constants)?;
                let mut dispatches = Vec::new();
                for chunk in &weight_grad_sources {
                    let [source_shift, dz_shift] = chunk.shifts();
                    let pass_params = ConvParams {
                        batch: chunk.images,
                        n_chunks: chunk.images.div_ceil(params.batch_chunk),
                        image_first: chunk.first,
                        source_shift,
                        dz_shift,
                        ..params
                    };
                    let chunk_uniform =
                        gpu.uniform_buffer(&format!("{label} {} params", kernel.name), &pass_params);
                    let resources = match chunk.bindings {
                        Some([x, d]) => vec![
                            chunk_uniform.as_entire_binding(),
                            buffer_range(dz, 4 * d.start, 16 * UNIFORM_SOURCE_LEN),
                            buffer_range(b.input, 4 * x.start, 16 * UNIFORM_SOURCE_LEN),
                            b.partial.as_entire_binding(),
                        ],
                        None => [&chunk_uniform, dz, b.input, b.partial, b.input, dz]
                            .map(|b| b.as_entire_binding())
                            .into(),
                    };
                    let group =
                        gpu.bind_group_resources(&format!("{label} {}", kernel.name), &pipeline, resources);
                    dispatches.push((group, Self::weight_grad_invocations(kind, &pass_params)));
                    pass_uniforms.push(chunk_uniform);
                }
                (pipeline, dispatches)
            }
            // (dz and x bound again as vec4s, read where their rows are whole vec4s.)
            LayerKernels::Dense { .. } => once(
                specialised(
                    weight_grad,
                    &[
                        ("DZ_VEC4", f64::from(u8::from(params.c_out.is_multiple_of(4)))),
                        ("X_VEC4", f64::from(u8::from(params.c_in.is_multiple_of(4)))),
                    ],
                    &[uniform, dz, b.input, b.partial, dz, b.input],
                )?,
                Self::weight_grad_invocations(kind, &params),
            ),
            _ => once(
                make(weight_grad, &[uniform, dz, b.input, b.partial])?,
                Self::weight_grad_invocations(kind, &params),
            ),
        };
        uniforms.extend(pass_uniforms);
        Ok(ConvLayer {
            kind,
            params,
            forward,
            output_grad,
            input_grad,
            weight_grad: Some((
                weight_grad,
                make(&REDUCE_ROWS, &[&uniforms[1], b.partial, b.grads])?,
            )),
            forward_sum,
            input_grad_sum,
            weight_views,
            uniform_view_chunks,
            uniform_source_chunks,
            _uniforms: uniforms,
        })
    }

    /// How many uniform bindings of the weight views the direct forward and
    /// ∂/∂x passes read, a dispatch each (0: storage, or a tiled pass; see
    /// [`Gpu::uniform_weight_views`]).
    pub fn uniform_view_chunks(&self) -> [usize; 2] {
        self.uniform_view_chunks
    }

    /// How many chunks of images the direct forward, ∂/∂x and ∂/∂θ passes
    /// read their sources (input, ∂L/∂z) of through uniform bindings, a
    /// dispatch each (forward and ∂/∂x: for each binding of the views; 0:
    /// storage, or a tiled pass).
    pub fn uniform_source_chunks(&self) -> [usize; 3] {
        self.uniform_source_chunks
    }

    /// Which passes run the tiled kernels: None unless a convolution
    /// (dense layers and max-pooling have their own kernels).
    pub fn tiled_passes(&self) -> Option<TiledPasses> {
        match self.kind {
            LayerKernels::Conv(t) => Some(t),
            LayerKernels::Dense { .. } | LayerKernels::MaxPool => None,
        }
    }

    /// Invocations of a direct forward (`forward`) or ∂/∂x dispatch, whose
    /// parameters `p` say its groups of 4 channels, `channel_groups` to an
    /// invocation: forward, one per image, output row, set of groups and 4
    /// output columns; ∂/∂x, one per image, input row, set of groups and 4
    /// input columns of one residue class mod the stride.
    fn direct_invocations(p: &ConvParams, forward: bool, channel_groups: u32) -> usize {
        let groups = |n: u32| n.div_ceil(4) as usize;
        let sets = p.view_groups.div_ceil(channel_groups) as usize;
        if forward {
            p.batch as usize * sets * p.h_out as usize * groups(p.w_out)
        } else {
            let row_groups = p.stride as usize * groups(p.w_in.div_ceil(p.stride));
            p.batch as usize * sets * p.h_in as usize * row_groups
        }
    }

    /// Windows per max-pooling invocation (ConvParams::pool_pairs).
    fn pool_per(p: &ConvParams) -> usize {
        if p.pool_pairs() { 2 } else { 1 }
    }

    /// Invocations of the forward kernel: for the dense kernels one per
    /// image and group of 4 output features (a workgroup, split); for the
    /// tiled convolution a workgroup per output tile; for max-pooling one
    /// per output element, or pair of them (a direct convolution's
    /// dispatches: [`ConvLayer::direct_invocations`]).
    fn out_elems(kind: LayerKernels, p: &ConvParams) -> usize {
        let groups = |n: u32| n.div_ceil(4) as usize;
        match kind {
            LayerKernels::Dense { split: false } => p.batch as usize * groups(p.c_out),
            LayerKernels::Dense { split: true } => {
                p.batch as usize * groups(p.c_out) * WORKGROUP_SIZE as usize
            }
            LayerKernels::Conv(t) if t.forward => {
                tile_workgroups(p.forward_tiles() * p.forward_splits as usize)
            }
            LayerKernels::Conv(_) => unreachable!("a direct pass counts its dispatches: direct_invocations"),
            LayerKernels::MaxPool => (p.batch * p.c_out * p.h_out * p.w_out) as usize / Self::pool_per(p),
        }
    }

    /// Invocations of a weight-gradient dispatch of parameters `p` (its
    /// chunks of the batch): for the tiled kernel a workgroup per chunk and
    /// tile of channels × taps.
    fn weight_grad_invocations(kind: LayerKernels, p: &ConvParams) -> usize {
        let per_chunk = match kind {
            LayerKernels::Conv(t) if t.weight_grad => tile_workgroups(p.weight_grad_tiles()),
            // conv2d_weight_grad: one per 4 output channels, input channel
            // and its set of kernel rows.
            LayerKernels::Conv(_) => {
                (p.c_out.div_ceil(4) * p.c_in * (p.kernel / p.weight_grad_rows())) as usize
            }
            _ => p.weight_grad_blocks(),
        };
        p.n_chunks as usize * per_chunk
    }

    /// Invocations of the input-gradient kernel: per image and 4 input
    /// features (dense); for the tiled convolution a workgroup per residue
    /// class, tile and split; per window (max-pooling: as its forward
    /// pass; a direct convolution's dispatches:
    /// [`ConvLayer::direct_invocations`]).
    fn in_elems(kind: LayerKernels, p: &ConvParams) -> usize {
        let groups = |n: u32| n.div_ceil(4) as usize;
        match kind {
            LayerKernels::Dense { .. } => p.batch as usize * groups(p.c_in),
            LayerKernels::Conv(t) if t.input_grad => {
                tile_workgroups(p.input_grad_tiles() * p.input_grad_splits as usize)
            }
            LayerKernels::Conv(_) => unreachable!("a direct pass counts its dispatches: direct_invocations"),
            LayerKernels::MaxPool => (p.batch * p.c_in * p.h_out * p.w_out) as usize / Self::pool_per(p),
        }
    }

    /// The direct kernels' weight views (conv2d_weight_views) from the
    /// parameters: the forward and ∂/∂x passes read the weights through
    /// them, so they are recorded after every change of the parameters,
    /// before the next forward pass (nothing for a layer whose passes all
    /// run tiled, which read the parameters themselves).
    pub fn record_weight_views(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        if let Some((pipeline, group, len)) = &self.weight_views {
            gpu.dispatch(pass, pipeline, group, *len);
        }
    }

    /// output = LeakyReLU?(conv(input) + bias), with the weight views as
    /// [`ConvLayer::record_weight_views`] last recorded them.
    pub fn record_forward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        self.record_pass(gpu, pass, ConvPass::Forward);
    }

    /// From grad_output = ∂L/∂output (needs a recorded forward pass):
    /// grads[weight, bias of this layer] = ∂L/∂θ summed over the batch (if
    /// `params`), then grad_input = ∂L/∂input (if `input`). With a
    /// [`LeakyReluFusion`], grad_output holds ∂L/∂(pre-activation) already,
    /// or grad_input receives the layer before's.
    pub fn record_backward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, params: bool, input: bool) {
        if let Some((pipeline, group)) = self.output_grad.as_ref().filter(|_| params || input) {
            let p = &self.params;
            let outputs = (p.batch * p.c_out * p.h_out * p.w_out) as usize;
            // (leaky_relu_grad: 4 outputs an invocation.)
            gpu.dispatch(pass, pipeline, group, outputs.div_ceil(4));
        }
        if let Some((_, reduce)) = self.weight_grad.as_ref().filter(|_| params) {
            self.record_pass(gpu, pass, ConvPass::WeightGrad);
            gpu.dispatch(pass, &reduce.0, &reduce.1, self.params.grad_row_len());
        }
        if input {
            self.record_pass(gpu, pass, ConvPass::InputGrad);
        }
    }

    /// One pass's kernel alone: the forward kernel, the ∂/∂x kernel, or
    /// the ∂/∂θ kernel without its reduction over chunks (both read the
    /// ∂L/∂(pre-activation) a backward pass writes first).
    fn record_pass(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, which: ConvPass) {
        let run = |pass: &mut wgpu::ComputePass, kernel: &Option<BoundKernel>| {
            if let Some((pipeline, group, len)) = kernel {
                gpu.dispatch(pass, pipeline, group, *len);
            }
        };
        match which {
            ConvPass::Forward => {
                for (group, invocations) in &self.forward.1 {
                    gpu.dispatch(pass, &self.forward.0, group, *invocations);
                }
                run(pass, &self.forward_sum);
            }
            ConvPass::InputGrad => {
                for (group, invocations) in &self.input_grad.1 {
                    gpu.dispatch(pass, &self.input_grad.0, group, *invocations);
                }
                run(pass, &self.input_grad_sum);
            }
            ConvPass::WeightGrad => {
                if let Some(((pipeline, dispatches), _)) = &self.weight_grad {
                    for (group, invocations) in dispatches {
                        gpu.dispatch(pass, pipeline, group, *invocations);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetSpec;

    /// Which LeakyReLU backwards run in the next layer's ∂/∂x for the
    /// built-in nets (GpuNet::build fuses exactly these): all of them, so
    /// none needs leaky_relu_grad or its scratch; a LeakyReLU before a
    /// non-local block would not be.
    #[test]
    fn leaky_relu_backwards_fused_in_the_built_in_nets() {
        let fused = |spec: &NetSpec| -> Vec<bool> {
            let geometry = spec.geometry().unwrap();
            let fusions = LeakyReluFusion::of_chain(&geometry);
            for (i, f) in fusions.iter().enumerate() {
                assert_eq!(
                    f.input,
                    i > 0 && fusions[i - 1].output_by_next,
                    "{} {i}",
                    spec.name
                );
                assert!(!f.output_by_next || geometry[i].leaky_relu, "{} {i}", spec.name);
            }
            let leaky = geometry.iter().zip(&fusions).filter(|(g, _)| g.leaky_relu);
            leaky.map(|(_, f)| f.output_by_next).collect()
        };
        assert_eq!(fused(&NetSpec::nonlocal(3, 8).unwrap()), [true; 4]);
        assert_eq!(fused(&NetSpec::toy()), [true; 4]);
        assert_eq!(fused(&NetSpec::vanilla(3, 8).unwrap()), [true; 4]);
        let before_a_block = [
            ConvGeometry::conv(2, [4, 4], 4, 3, 1, 1, true).unwrap(),
            ConvGeometry::non_local(4, [4, 4]).unwrap(),
        ];
        let fusions = LeakyReluFusion::of_chain(&before_a_block);
        assert!(!fusions[0].output_by_next && !fusions[1].input);
    }

    /// By shape, VanillaNet-32 and NonlocalNet-32 run in each pass of their
    /// convolutions the family that was the faster on an NVIDIA H200 with
    /// 100 images (README, Performance): T tiled, D direct, in forward,
    /// ∂/∂x, ∂/∂θ.
    #[test]
    fn by_shape_runs_what_was_faster_on_an_h200() {
        let families = |spec: NetSpec, layers: &[usize]| -> Vec<String> {
            let geometry = spec.geometry().unwrap();
            let family = |tiled| if tiled { 'T' } else { 'D' };
            let passes = layers.iter().map(|&i| TiledPasses::by_shape(&geometry[i]));
            passes
                .map(|p| {
                    [p.forward, p.input_grad, p.weight_grad]
                        .map(family)
                        .iter()
                        .collect()
                })
                .collect()
        };
        let vanilla = families(NetSpec::vanilla(3, 32).unwrap(), &[0, 1, 2, 3]);
        assert_eq!(vanilla, ["DDT", "TDT", "TTT", "TTT"]);
        // convs.0, convs.4, convs.8.
        let nonlocal = families(NetSpec::nonlocal(3, 32).unwrap(), &[0, 3, 6]);
        assert_eq!(nonlocal, ["DDT", "TDT", "TTT"]);
    }

    /// Splits leave no split empty (the kernels share whole slices out as
    /// ⌈slices / splits⌉ each), stay within MAX_SPLITS and give each at
    /// least SPLIT_MIN_SLICES slices; few tiles and a deep sum are split.
    #[test]
    fn depth_splits_share_whole_slices() {
        for tiles in [1, 2, 7, 100, 200, 400, 1023, 1024, 5000] {
            for depth in [1, 15, 16, 17, 255, 256, 511, 512, 576, 1024, 2048, 4096, 100_000] {
                let splits = depth_splits(tiles, depth) as usize;
                let slices = depth.div_ceil(TILE_K);
                let per_split = slices.div_ceil(splits);
                assert!((1..=MAX_SPLITS).contains(&splits), "{tiles} {depth}");
                assert!(
                    per_split * (splits - 1) < slices,
                    "an empty split: {tiles} {depth}"
                );
                assert!(
                    splits == 1 || slices / splits >= SPLIT_MIN_SLICES,
                    "{tiles} {depth}"
                );
            }
        }
        assert_eq!(depth_splits(5000, 4096), 1, "tiles enough");
        assert_eq!(depth_splits(200, 256), 1, "too shallow");
    }

    /// Uniform view chunks cover every group of 4 channels once, in order;
    /// each binding starts aligned and holds its groups' weights; a group
    /// past a binding leaves the pass on storage, one dispatch of all groups.
    #[test]
    fn view_chunks_cover_the_groups_within_a_binding() {
        let vanilla = NetSpec::vanilla(3, 32).unwrap().geometry().unwrap();
        for g in &vanilla[..4] {
            let p = ConvParams::new(g, 4, 0, 0).unwrap();
            assert!((p.grad_view_offset as usize).is_multiple_of(VIEW_ALIGN_VEC4S));
            for forward in [true, false] {
                let (groups, group_len, start) = p.view_groups_of(forward);
                let storage = p.view_chunks(forward, false, 1).unwrap();
                assert_eq!(
                    storage,
                    [ViewChunk {
                        first: 0,
                        groups,
                        uniform_start: None
                    }]
                );
                for align in [1, 2, 16] {
                    let Some(chunks) = p.view_chunks(forward, true, align) else {
                        assert!(group_len > UNIFORM_VIEWS_LEN, "{g:?} {forward}");
                        continue;
                    };
                    let mut next = 0;
                    for c in &chunks {
                        assert_eq!(c.first, next);
                        let at = c.uniform_start.unwrap();
                        assert_eq!(at, start + c.first as usize * group_len);
                        assert!(at.is_multiple_of(align));
                        assert!(c.groups > 0 && c.groups as usize * group_len <= UNIFORM_VIEWS_LEN);
                        next += c.groups;
                    }
                    assert_eq!(next, groups, "{g:?} {forward}");
                }
            }
        }
        // VanillaNet-32's last convolution (128 → 256, 4×4): 2 048 vec4s a
        // group forward (2 a binding), 4 096 a group ∂/∂x (1 a binding).
        // Its forward dispatches pair their groups in an invocation; its
        // ∂/∂x ones, of one group each, do not (nor do storage views).
        let p = ConvParams::new(&vanilla[3], 4, 0, 0).unwrap();
        let [forward, input_grad] = [true, false].map(|f| p.view_chunks(f, true, 16).unwrap());
        assert_eq!([forward.len(), input_grad.len()], [32, 32]);
        assert_eq!(
            ConvParams::channel_groups_for(&forward),
            UNIFORM_VIEWS_CHANNEL_GROUPS
        );
        assert_eq!(ConvParams::channel_groups_for(&input_grad), 1);
        let storage = p.view_chunks(true, false, 16).unwrap();
        assert_eq!(ConvParams::channel_groups_for(&storage), 1);
        assert_eq!(p.view_chunks(true, true, 32), None, "past WebGPU's alignment");
    }

    /// A direct pass's dispatches by images cover the batch in order, whole
    /// granules but the last, each source's binding starting at a multiple
    /// of the alignment and ending in its buffer, the chunk's images inside
    /// it; an image (a granule) past a binding, or a buffer shorter than one,
    /// leaves the sources on storage.
    #[test]
    fn source_chunks_cover_the_images_within_a_binding() {
        let binding = 4 * UNIFORM_SOURCE_LEN;
        // As Gpu::activation_buffer pads a buffer.
        let padded = |len: usize| len.max(binding).next_multiple_of(64);
        // Checks the chunks of `batch` images of `sources`: whether they are
        // several, or None where they cannot be bound.
        fn check<const N: usize>(
            batch: usize,
            granule: usize,
            sources: [(usize, usize); N],
            align: usize,
        ) -> Option<bool> {
            let binding = 4 * UNIFORM_SOURCE_LEN;
            let storage = source_chunks(batch, granule, sources, false, align).unwrap();
            assert_eq!(storage.len(), 1);
            assert_eq!((storage[0].first, storage[0].images), (0, batch as u32));
            assert_eq!((storage[0].bindings, storage[0].shifts()), (None, [0; N]));
            let Some(chunks) = source_chunks(batch, granule, sources, true, align) else {
                // A granule past a binding (less the alignment's rounding),
                // or a buffer shorter than one.
                let past = |&(image, len): &(usize, usize)| {
                    image * granule.min(batch) + align > binding || len < binding
                };
                assert!(sources.iter().any(past));
                return None;
            };
            let mut next = 0;
            for (i, c) in chunks.iter().enumerate() {
                assert_eq!(c.first, next);
                assert!(c.images > 0);
                if i + 1 < chunks.len() {
                    assert!((c.images as usize).is_multiple_of(granule), "{granule}");
                }
                for (&(image, len), b) in sources.iter().zip(c.bindings.unwrap()) {
                    assert!(b.start.is_multiple_of(align) && b.start + binding <= len);
                    assert_eq!(b.start + b.shift as usize, c.first as usize * image);
                    assert!(b.shift as usize + c.images as usize * image <= binding);
                }
                next += c.images;
            }
            assert_eq!(next as usize, batch);
            Some(chunks.len() > 1)
        }
        let vanilla = NetSpec::vanilla(3, 32).unwrap().geometry().unwrap();
        let narrow = NetSpec::vanilla(3, 8).unwrap().geometry().unwrap();
        let (mut several, mut several_weight_grad) = (0, 0);
        for g in vanilla[..4].iter().chain(&narrow[..4]) {
            for batch in [1, 7, 32, 100] {
                let p = ConvParams::new(g, batch, 0, 0).unwrap();
                let [x, dz] = [g.in_len(), g.out_len()];
                for align in [4, 64] {
                    // Forward, ∂/∂x, and ∂/∂θ (both, by chunks of the batch),
                    // in padded buffers and in longer ones.
                    for extra in [0, 100] {
                        let [x_len, dz_len] = [x, dz].map(|n| padded(batch * n) + extra);
                        let results = [
                            check(batch, 1, [(x, x_len)], align),
                            check(batch, 1, [(dz, dz_len)], align),
                            check(batch, p.batch_chunk as usize, [(x, x_len), (dz, dz_len)], align),
                        ];
                        several += results.iter().filter(|r| **r == Some(true)).count();
                        several_weight_grad += usize::from(results[2] == Some(true));
                        // ∂/∂θ's dispatches write the batch's rows of sums between them.
                        if let Some(c) = p.weight_grad_source_chunks(true, [x_len, dz_len], align) {
                            let rows: u32 = c.iter().map(|c| c.images.div_ceil(p.batch_chunk)).sum();
                            assert_eq!(rows, p.n_chunks);
                        }
                        let via_params = [
                            p.source_chunks(true, true, x_len, align).map(|c| c.len() > 1),
                            p.source_chunks(false, true, dz_len, align).map(|c| c.len() > 1),
                            p.weight_grad_source_chunks(true, [x_len, dz_len], align)
                                .map(|c| c.len() > 1),
                        ];
                        assert_eq!(results, via_params);
                    }
                }
            }
        }
        assert!(
            several > 10 && several_weight_grad > 2,
            "{several} {several_weight_grad}"
        );
        // Granules of 3 images of 5 000 f32: 3 a binding of 16 384, not 4.
        let chunks = source_chunks(10, 3, [(5000, padded(50_000))], true, 64).unwrap();
        assert_eq!(chunks.iter().map(|c| c.images).collect::<Vec<_>>(), [3, 3, 3, 1]);
        assert_eq!(
            check(10, 4, [(5000, padded(50_000))], 64),
            None,
            "4 images past a binding"
        );
        // VanillaNet-32's second convolution reads 32·32·32 f32 an image
        // forward, two bindings' worth: storage.
        let p = ConvParams::new(&vanilla[1], 4, 0, 0).unwrap();
        assert_eq!(p.source_chunks(true, true, 4 * 32 * 32 * 32, 64), None);
        // A buffer shorter than a binding cannot be bound as one.
        let p = ConvParams::new(&vanilla[3], 2, 0, 0).unwrap();
        assert_eq!(p.source_chunks(true, true, binding - 64, 64), None);
        assert!(p.source_chunks(true, true, binding, 64).is_some());
    }

    /// VanillaNet-32 on 100 chains: the two deepest layers split the tiled
    /// passes with fewest tiles; the scratch holds the splits' sums.
    #[test]
    fn vanilla_deep_layers_split() {
        let g = NetSpec::vanilla(3, 32).unwrap().geometry().unwrap();
        let splits: Vec<_> = g[..4]
            .iter()
            .map(|g| {
                let p = ConvParams::new(g, 100, 0, 0).unwrap();
                (p.forward_splits, p.input_grad_splits)
            })
            .collect();
        assert_eq!(splits, [(1, 1), (1, 1), (2, 1), (4, 2)]);
        let p = ConvParams::new(&g[3], 100, 0, 0).unwrap();
        assert!(p.partial_len() >= 4 * 100 * 256 * 4 * 4);
    }

    /// The learning step's 200 images of VanillaNet-32 chunk its ∂/∂θ so
    /// that the tiled kernel has about TILED_WEIGHT_GRAD_TARGET_WORKGROUPS
    /// workgroups: f.2 (4 tiles of weights) in 50 chunks of 4 images, f.6
    /// (64 tiles) in 4 of 50, where the direct kernel's blocks alone asked
    /// for 8 and 1.
    #[test]
    fn tiled_weight_gradients_chunk_for_their_workgroups() {
        let g = NetSpec::vanilla(3, 32).unwrap().geometry().unwrap();
        let chunks = |g: &ConvGeometry| {
            let p = ConvParams::new(g, 200, 0, 0).unwrap();
            (p.weight_grad_tiles(), p.batch_chunk, p.n_chunks)
        };
        assert_eq!(chunks(&g[1]), (4, 4, 50));
        assert_eq!(chunks(&g[3]), (64, 50, 4));
    }

    /// The direct ∂/∂x reads its ∂L/∂z window as vec4s with stride 1 on
    /// output rows of whole vec4s, where the window's shift into its first
    /// vec4 leaves it room (tests/gpu_kernels.rs runs every shift).
    #[test]
    fn input_gradient_windows_are_read_as_vec4s_where_they_fit() {
        let dz_window = |kernel, stride, padding, w| {
            let op = crate::model::LayerOp::Conv2d {
                kernel,
                stride,
                padding,
            };
            let g = NetSpec::single_layer("conv", [1, w, w], op, 2, true)
                .geometry()
                .unwrap()[0];
            let c = ConvParams::new(&g, 1, 0, 0).unwrap().input_grad_constants();
            c.map(|c| (c[3].1 == 1.0).then_some(c[4].1 as u32))
        };
        // VanillaNet's and NonlocalNet's 3×3 convolutions of stride 1 on 32
        // columns: the window starts one column before the invocation's 4.
        assert_eq!(dz_window(3, 1, 1, 32), Some(Some(3)));
        // Stride 2; 30 output columns.
        assert_eq!(dz_window(4, 2, 1, 32), Some(None));
        assert_eq!(dz_window(3, 1, 1, 30), Some(None));
        // 13 taps + 3: the whole window, but no room for a shift of 1 (and
        // room for none); 14 taps do not fit at all.
        assert_eq!(dz_window(13, 1, 1, 14), Some(None));
        assert_eq!(dz_window(13, 1, 0, 16), Some(Some(0)));
        assert_eq!(dz_window(14, 1, 0, 17), None);
    }

    /// The dense kernels read rows as vec4s where input rows and weight
    /// rows are whole vec4s: NonlocalNet's first Linear and VanillaNet's
    /// last layer where they lie in the parameter vector, not a layer of
    /// 270 inputs, nor one whose weights start off a multiple of 4
    /// (NonlocalNet(1, 2)'s first Linear, at 447).
    #[test]
    fn dense_rows_are_read_as_vec4s_where_whole() {
        let rows_vec4 = |spec: NetSpec, layer: usize| {
            let g = spec.geometry().unwrap()[layer];
            let slot = spec.param_layout().unwrap().layer_convs[layer][0];
            let p = ConvParams::new(&g, 2, slot.weight, slot.bias).unwrap();
            assert!(g.as_dense().is_some());
            (slot.weight, p.dense_rows_vec4())
        };
        assert!(rows_vec4(NetSpec::nonlocal(3, 8).unwrap(), 8).1);
        assert!(rows_vec4(NetSpec::vanilla(3, 8).unwrap(), 4).1);
        assert_eq!(rows_vec4(NetSpec::nonlocal(1, 2).unwrap(), 8), (447, false));
        let linear = NetSpec::single_layer("fc", [3, 9, 10], crate::model::LayerOp::Linear, 5, false);
        assert!(!rows_vec4(linear, 0).1);
    }
}
