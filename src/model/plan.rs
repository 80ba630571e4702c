//! The GPU evaluation of a network for a fixed batch size: buffers, bind
//! groups and the recording of forward, input-gradient and
//! parameter-gradient passes. Made once, recorded every step.

use crate::gpu::Gpu;
use crate::kernels::conv2d::{ConvBuffers, ConvLayer, ConvParams, LeakyReluFusion, TiledPasses};
use crate::kernels::nonlocal::{self, NonLocalLayer};
use crate::model::{ConvGeometry, ConvSlot, GeometryKind, NetSpec, ParamLayout};
use crate::{Error, Result};

/// What a backward pass computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backward {
    /// ∂L/∂x into [`GpuNet::input_grad_buffer`].
    pub input: bool,
    /// ∂L/∂θ into [`GpuNet::grads_buffer`].
    pub params: bool,
}

impl Backward {
    /// ∂L/∂x alone: an energy's ∇x F, as the Langevin steps take it.
    pub const INPUT: Backward = Backward {
        input: true,
        params: false,
    };
}

/// One layer's kernels.
enum Layer {
    /// A convolution, a Linear layer or a max-pooling.
    Conv(Box<ConvLayer>),
    NonLocal(Box<NonLocalLayer>),
}

impl Layer {
    fn record_weight_views(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        match self {
            Layer::Conv(l) => l.record_weight_views(gpu, pass),
            Layer::NonLocal(l) => l.record_weight_views(gpu, pass),
        }
    }

    fn record_forward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        match self {
            Layer::Conv(l) => l.record_forward(gpu, pass),
            Layer::NonLocal(l) => l.record_forward(gpu, pass),
        }
    }

    fn record_backward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, params: bool, input: bool) {
        match self {
            Layer::Conv(l) => l.record_backward(gpu, pass, params, input),
            Layer::NonLocal(l) => l.record_backward(gpu, pass, params, input),
        }
    }
}

/// A network on the GPU for `batch` inputs. L = Σ upstream ⊙ output, where
/// `upstream` is a buffer the caller fills: ones give ∇x F per image;
/// +1/n on the n data images and −1/m on the m samples give
/// ∇θ (mean F(X⁺) − mean F(X⁻)) from one concatenated batch.
pub struct GpuNet {
    pub spec: NetSpec,
    pub geometry: Vec<ConvGeometry>,
    pub layout: ParamLayout,
    pub batch: usize,
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    /// acts[0] is the input, acts[i + 1] the output of layer i.
    acts: Vec<wgpu::Buffer>,
    /// grad_acts[i] = ∂L/∂acts[i], or where layer i's ∂/∂x applies the
    /// LeakyReLU backward of layer i − 1 ([`LeakyReluFusion`]: every one
    /// of the built-in nets) ∂L/∂(layer i − 1's pre-activation); the last
    /// one is the upstream weights.
    grad_acts: Vec<wgpu::Buffer>,
    _partial: wgpu::Buffer,
    _dz: wgpu::Buffer,
    layers: Vec<Layer>,
}

/// What to do when a batch through a net does not fit the adapter.
pub(crate) const FEWER_AT_A_TIME: &str = "use fewer images or chains at a time (in training, smaller batch.data and \
                               batch.chains, e.g. --set batch.chains=50; elsewhere --chains, --starts or --chunk; \
                               for a toy run's density grid of eval.grid² points, a smaller eval.grid), \
                               or choose an adapter with more memory (--adapter; `ebmscope info` lists them)";

impl GpuNet {
    pub fn new(gpu: &Gpu, spec: &NetSpec, batch: usize) -> Result<Self> {
        Self::build(gpu, spec, batch, None)
    }

    /// A network reading the parameters of `other` (same spec), for another batch size:
    /// e.g. the sampler's chains and the training batch share one parameter vector.
    pub fn sharing(gpu: &Gpu, other: &GpuNet, batch: usize) -> Result<Self> {
        Self::build(gpu, &other.spec, batch, Some(other.params.clone()))
    }

    fn build(gpu: &Gpu, spec: &NetSpec, batch: usize, params: Option<wgpu::Buffer>) -> Result<Self> {
        let what = format!("a batch of {batch} through the {} net", spec.name);
        gpu.allocating(&what, FEWER_AT_A_TIME, || {
            Self::allocate(gpu, spec, batch, params, &what)
        })
    }

    /// Refuse a batch whose largest activation buffer (a non-local block's
    /// attention among them) is past what the adapter binds, with what to
    /// change, before anything is made (the weight-gradient scratch is
    /// refused in build). `what`: the batch, as errors name it.
    pub fn check_batch(gpu: &Gpu, spec: &NetSpec, batch: usize, what: &str) -> Result<()> {
        if batch == 0 {
            return Err(Error::Shape("a batch needs at least one image".into()));
        }
        let [c, h, w] = spec.input;
        // Per image: each layer's output, and a non-local block's own
        // attention and θφg, which can outgrow the activations.
        let largest = spec
            .geometry()?
            .iter()
            .flat_map(|g| {
                let own = g.non_local_parts().map_or([0, 0], |p| {
                    [
                        p.queries * crate::kernels::nonlocal::attention_row(p.keys),
                        3 * p.inter * p.queries,
                    ]
                });
                [g.out_len(), own[0], own[1]]
            })
            .chain([c * h * w])
            .max()
            .unwrap_or(1);
        // (Saturating: an absurd count, say sample --chains 10^15, is refused, not wrapped.)
        let bytes = batch.saturating_mul(largest).saturating_mul(4);
        gpu.check_binding(what, u64::try_from(bytes).unwrap_or(u64::MAX), FEWER_AT_A_TIME)
    }

    /// build's buffers and kernels (`what`: the batch, as errors name it).
    fn allocate(
        gpu: &Gpu,
        spec: &NetSpec,
        batch: usize,
        params: Option<wgpu::Buffer>,
        what: &str,
    ) -> Result<Self> {
        Self::check_batch(gpu, spec, batch, what)?;
        let geometry = spec.geometry()?;
        let layout = spec.param_layout()?;
        let [c, h, w] = spec.input;
        // (Direct convolutions may read activations through uniform bindings.)
        let direct_convs = geometry.iter().any(|g| match g.kind {
            GeometryKind::Conv => !g.is_dense(),
            GeometryKind::NonLocal => true,
            GeometryKind::MaxPool2 => false,
        });
        let buffer = |label: &str, len: usize| gpu.activation_buffer(label, len, direct_convs);
        let mut acts = vec![buffer("net input", batch * c * h * w)];
        let mut grad_acts = vec![buffer("net input grad", batch * c * h * w)];
        for (i, g) in geometry.iter().enumerate() {
            let name = &spec.layers[i].name;
            acts.push(buffer(&format!("{name} output"), batch * g.out_len()));
            grad_acts.push(buffer(&format!("{name} output grad"), batch * g.out_len()));
        }
        gpu.check_binding(
            &format!("the {} net, of {} parameters,", spec.name, layout.total),
            (layout.total * 4) as u64,
            "use a narrower net (lower net.n_f; energy: --n-f)",
        )?;
        let params = params.unwrap_or_else(|| gpu.storage_buffer("parameters", layout.total));
        let grads = gpu.storage_buffer("parameter grads", layout.total);
        // One scratch (weight-gradient chunks, split sums) for all layers: they
        // run one after another.
        let mut partial_len = 1;
        for g in &geometry {
            partial_len = partial_len.max(match g.kind {
                GeometryKind::Conv => ConvParams::new(g, batch, 0, 0)?.partial_len(),
                GeometryKind::MaxPool2 => 0,
                GeometryKind::NonLocal => nonlocal::partial_len(g, batch)?,
            });
        }
        gpu.check_binding(
            &format!("the weight gradients and split sums of a batch of {batch}"),
            (partial_len * 4) as u64,
            "use a smaller batch or a narrower net (net.n_f; energy: --n-f)",
        )?;
        let partial = gpu.storage_buffer("partial sums", partial_len);
        // The ∂L/∂(pre-activation) scratch, for the LeakyReLUs whose backward
        // runs in a pass of its own (none in the built-in nets, which hold
        // one value of it, or one uniform binding on CPU adapters).
        let fusions = LeakyReluFusion::of_chain(&geometry);
        let dz_len = (geometry.iter().zip(&fusions))
            .filter(|(g, fusion)| g.leaky_relu && !fusion.output_by_next)
            .map(|(g, _)| batch * g.out_len())
            .max()
            .unwrap_or(1);
        let dz = buffer("pre-activation grad", dz_len);
        let mut layers = Vec::with_capacity(geometry.len());
        for (i, g) in geometry.iter().enumerate() {
            let buffers = ConvBuffers {
                input: &acts[i],
                output: &acts[i + 1],
                params: &params,
                grad_output: &grad_acts[i + 1],
                grad_input: &grad_acts[i],
                grads: &grads,
                partial: &partial,
                dz: &dz,
                leaky_relu_fusion: fusions[i],
            };
            let name = &spec.layers[i].name;
            let slots = &layout.layer_convs[i];
            layers.push(match g.kind {
                GeometryKind::NonLocal => Layer::NonLocal(Box::new(NonLocalLayer::new(
                    gpu,
                    name,
                    g,
                    batch,
                    [slots[0], slots[1]],
                    &buffers,
                )?)),
                GeometryKind::Conv | GeometryKind::MaxPool2 => {
                    let slot = slots.first().copied().unwrap_or(ConvSlot { weight: 0, bias: 0 });
                    // The weight-gradient reduction writes weight then bias as one row.
                    debug_assert!(slots.is_empty() || slot.weight + g.weight_len() == slot.bias);
                    Layer::Conv(Box::new(ConvLayer::new(gpu, name, g, batch, slot, &buffers)?))
                }
            });
        }
        Ok(GpuNet {
            spec: spec.clone(),
            geometry,
            layout,
            batch,
            params,
            grads,
            acts,
            grad_acts,
            _partial: partial,
            _dz: dz,
            layers,
        })
    }

    /// f32 per input image.
    pub fn input_len(&self) -> usize {
        self.spec.input.iter().product()
    }

    /// f32 per output (1 for a network's energy).
    pub fn output_len(&self) -> usize {
        self.geometry.last().map_or(self.input_len(), |g| g.out_len())
    }

    pub fn params_buffer(&self) -> &wgpu::Buffer {
        &self.params
    }
    pub fn grads_buffer(&self) -> &wgpu::Buffer {
        &self.grads
    }
    pub fn input_buffer(&self) -> &wgpu::Buffer {
        &self.acts[0]
    }
    pub fn output_buffer(&self) -> &wgpu::Buffer {
        self.acts.last().unwrap_or(&self.acts[0])
    }
    pub fn input_grad_buffer(&self) -> &wgpu::Buffer {
        &self.grad_acts[0]
    }
    pub fn upstream_buffer(&self) -> &wgpu::Buffer {
        self.grad_acts.last().unwrap_or(&self.grad_acts[0])
    }

    fn check_len(&self, what: &str, got: usize, want: usize) -> Result<()> {
        if got == want {
            Ok(())
        } else {
            Err(Error::Shape(format!("{what}: expected {want} values, got {got}")))
        }
    }

    pub fn write_params(&self, gpu: &Gpu, params: &[f32]) -> Result<()> {
        self.check_len("parameters", params.len(), self.layout.total)?;
        gpu.write_f32(&self.params, 0, params);
        Ok(())
    }

    pub fn write_input(&self, gpu: &Gpu, x: &[f32]) -> Result<()> {
        self.check_len("input batch", x.len(), self.batch * self.input_len())?;
        gpu.write_f32(&self.acts[0], 0, x);
        Ok(())
    }

    pub fn write_upstream(&self, gpu: &Gpu, upstream: &[f32]) -> Result<()> {
        self.check_len(
            "upstream gradient",
            upstream.len(),
            self.batch * self.output_len(),
        )?;
        gpu.write_f32(self.upstream_buffer(), 0, upstream);
        Ok(())
    }

    /// The shapes mlp_langevin.wgsl needs when this network is a chain of
    /// dense layers small enough for its workgroup arrays (ToyNet is):
    /// per layer (n_in, n_out, weight offset, LeakyReLU), bias after weight.
    /// None for any other network, which the layered kernels evaluate.
    pub fn dense_layers(&self) -> Option<Vec<[u32; 4]>> {
        use crate::kernels::sampling::{MLP_MAX_ACTIVATIONS, MLP_MAX_LAYERS, MLP_MAX_WIDTH};
        if self.geometry.len() > MLP_MAX_LAYERS || self.output_len() != 1 {
            return None;
        }
        let mut activations = self.input_len();
        let mut shape = Vec::with_capacity(self.geometry.len());
        for (g, slots) in self.geometry.iter().zip(&self.layout.layer_convs) {
            let fits = g.c_in <= MLP_MAX_WIDTH && g.c_out <= MLP_MAX_WIDTH;
            let slot = slots.first()?;
            if !g.is_dense() || !fits || slot.bias != slot.weight + g.weight_len() {
                return None;
            }
            activations += g.c_out;
            shape.push([
                g.c_in as u32,
                g.c_out as u32,
                u32::try_from(slot.weight).ok()?,
                u32::from(g.leaky_relu),
            ]);
        }
        (activations <= MLP_MAX_ACTIVATIONS && !shape.is_empty()).then_some(shape)
    }

    /// Record the forward pass: input → every layer → output, the direct
    /// convolutions' weight views first made from the parameters.
    pub fn record_forward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        for layer in &self.layers {
            layer.record_weight_views(gpu, pass);
        }
        self.record_forward_same_params(gpu, pass);
    }

    /// Record the forward pass with the weight views as they are: only
    /// after a [`GpuNet::record_forward`] since the parameters last changed
    /// (the steps `Langevin::record_steps` records after its first, where
    /// they cannot).
    pub fn record_forward_same_params(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass) {
        for layer in &self.layers {
            layer.record_forward(gpu, pass);
        }
    }

    /// Record the backward pass (needs a recorded forward pass on the same input).
    pub fn record_backward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, want: Backward) {
        for (i, layer) in self.layers.iter().enumerate().rev() {
            layer.record_backward(gpu, pass, want.params, i > 0 || want.input);
        }
    }

    /// Which passes of layer `i` run tiled convolution kernels: None unless
    /// it is a convolution (not dense, max-pooling or non-local).
    pub fn layer_tiled_passes(&self, i: usize) -> Option<TiledPasses> {
        match &self.layers[i] {
            Layer::Conv(l) => l.tiled_passes(),
            Layer::NonLocal(_) => None,
        }
    }

    /// How many uniform bindings of its weight views layer `i`'s direct
    /// forward and ∂/∂x passes read (0: storage, tiled, or no views).
    pub fn layer_uniform_view_chunks(&self, i: usize) -> [usize; 2] {
        match &self.layers[i] {
            Layer::Conv(l) => l.uniform_view_chunks(),
            Layer::NonLocal(_) => [0, 0],
        }
    }

    /// In how many chunks of images layer `i`'s direct forward, ∂/∂x and
    /// ∂/∂θ passes read their sources (input, ∂L/∂z) through uniform
    /// bindings, a dispatch each (forward and ∂/∂x: for each binding of
    /// their views; 0: storage, tiled, or not a convolution).
    pub fn layer_uniform_source_chunks(&self, i: usize) -> [usize; 3] {
        match &self.layers[i] {
            Layer::Conv(l) => l.uniform_source_chunks(),
            Layer::NonLocal(_) => [0, 0, 0],
        }
    }

    /// Record layer `i`'s forward pass alone (benchmarks: its input must be
    /// in place, and a [`GpuNet::record_forward`] recorded since the
    /// parameters last changed).
    pub fn record_layer_forward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, i: usize) {
        self.layers[i].record_forward(gpu, pass);
    }

    /// The parts of layer `i` that benchmarks time one by one, by name, in
    /// the forward and the backward pass: a non-local block's; None for
    /// other layers (one kernel per pass, or a convolution and its sum).
    pub fn layer_parts(&self, i: usize) -> Option<(&'static [&'static str], &'static [&'static str])> {
        match &self.layers[i] {
            Layer::NonLocal(_) => Some((&NonLocalLayer::FORWARD_PARTS, &NonLocalLayer::BACKWARD_PARTS)),
            Layer::Conv(_) => None,
        }
    }

    /// Record part `part` (of [`GpuNet::layer_parts`]) of layer `i`'s
    /// forward pass, or with `backward` its backward pass, alone
    /// (benchmarks: as [`GpuNet::record_layer_forward`], after a
    /// [`GpuNet::record_forward`] since the parameters last changed).
    pub fn record_layer_part(
        &self,
        gpu: &Gpu,
        pass: &mut wgpu::ComputePass,
        i: usize,
        part: usize,
        backward: Option<Backward>,
    ) {
        if let Layer::NonLocal(l) = &self.layers[i] {
            match backward {
                None => l.record_forward_part(gpu, pass, part),
                Some(want) => l.record_backward_part(gpu, pass, part, want.params, want.input),
            }
        }
    }

    /// Record layer `i`'s backward pass alone (benchmarks).
    pub fn record_layer_backward(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass, i: usize, want: Backward) {
        self.layers[i].record_backward(gpu, pass, want.params, want.input);
    }

    /// Run forward (and backward if asked) in one submission.
    pub fn run(&self, gpu: &Gpu, want: Backward) {
        gpu.run("net evaluate", |pass| {
            self.record_forward(gpu, pass);
            if want.input || want.params {
                self.record_backward(gpu, pass, want);
            }
        });
    }

    pub fn read_output(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.read_f32(self.output_buffer(), 0, self.batch * self.output_len())
    }
    pub fn read_input_grad(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.read_f32(&self.grad_acts[0], 0, self.batch * self.input_len())
    }
    pub fn read_param_grads(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.read_f32(&self.grads, 0, self.layout.total)
    }
    pub fn read_params(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.read_f32(&self.params, 0, self.layout.total)
    }
}
