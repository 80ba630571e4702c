use crate::{Error, Result};

/// Negative slope of every LeakyReLU in the reference networks (PAPER.md).
pub const LEAKY_SLOPE: f32 = 0.05;

/// The networks of PAPER.md that ebmscope builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetKind {
    /// 2-D points: 2 → 32 → 64 → 64 → 64 → 1 (1×1 convolutions, as the reference).
    Toy,
    /// VanillaNet(n_c, n_f) on 32×32 images.
    Vanilla,
    /// NonlocalNet(n_c, n_f) on 32×32 images.
    Nonlocal,
}

impl NetKind {
    pub fn parse(name: &str) -> Result<Self> {
        [NetKind::Toy, NetKind::Vanilla, NetKind::Nonlocal]
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                Error::Shape(format!(
                    "unknown network `{name}`: use `toy` (2-D points), `vanilla` or `nonlocal` \
                     (32×32 images)"
                ))
            })
    }

    /// Its name, as `parse` and the settings' `net.kind` take it.
    pub fn name(self) -> &'static str {
        match self {
            NetKind::Toy => "toy",
            NetKind::Vanilla => "vanilla",
            NetKind::Nonlocal => "nonlocal",
        }
    }
}

/// What a layer computes before its optional LeakyReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerOp {
    /// PyTorch Conv2d: cross-correlation, square kernel, zero padding,
    /// weight [C_out, C_in, k, k], bias [C_out].
    Conv2d {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// PyTorch Linear on the input flattened in (C, H, W) order:
    /// weight [out, in], bias [out]. Computed as a 1×1 convolution on a
    /// [in, 1, 1] image, which has the same memory layout.
    Linear,
    /// PyTorch MaxPool2d(2): 2×2 windows, stride 2, sizes rounded down; no
    /// parameters (`c_in` = `c_out`, no LeakyReLU). The gradient goes to the
    /// first maximum of each window, as PyTorch.
    MaxPool2,
    /// The non-local block of PAPER.md (embedded Gaussian, Wang et al.
    /// 2018): θ, φ, g are 1×1 convolutions to C/2 channels, φ and g are
    /// max-pooled 2×2; z = W(softmax(θᵀφ) gᵀ) + x with W a 1×1 convolution
    /// back to C channels, zero at initialisation. `c_in` = `c_out` = C, no
    /// LeakyReLU.
    NonLocal,
}

/// One layer: `name` is its PyTorch module path (`f.0`, `fc.2`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub name: String,
    pub op: LayerOp,
    /// Input channels (Conv2d) or input features (Linear).
    pub c_in: usize,
    /// Output channels (Conv2d) or output features (Linear).
    pub c_out: usize,
    /// Apply LeakyReLU(0.05) to the output.
    pub leaky_relu: bool,
}

/// A network: per-image input shape [C, H, W] and its layers in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetSpec {
    pub name: String,
    pub input: [usize; 3],
    pub layers: Vec<LayerSpec>,
    /// Why the input shape is what it is, for error messages.
    pub input_note: String,
}

/// What a layer's geometry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryKind {
    Conv,
    /// 2×2 max-pooling with stride 2.
    MaxPool2,
    /// A non-local block on C = `c_in` channels (see [`NonLocalParts`]).
    NonLocal,
}

/// The parts of a non-local block on C channels of H×W: one 1×1
/// convolution computing θ, φ, g at once (3·C/2 channels: θ first), the
/// 2×2 max-pooling of that stack (θ's pooled channels are unused), and W.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonLocalParts {
    /// C/2 (at least 1), the channels of θ, φ, g and y.
    pub inter: usize,
    pub qkv: ConvGeometry,
    pub pool: ConvGeometry,
    pub w: ConvGeometry,
    /// Query positions H·W.
    pub queries: usize,
    /// Key positions ⌊H/2⌋·⌊W/2⌋.
    pub keys: usize,
}

/// The shapes one layer works on, as a convolution (a Linear layer is a 1×1
/// convolution on a [in, 1, 1] image). Shared by the CPU reference and the
/// GPU kernels, so both index memory the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub c_in: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub c_out: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub leaky_relu: bool,
    pub kind: GeometryKind,
}

impl ConvGeometry {
    /// A convolution on 1×1 images with a 1×1 kernel is a matrix product
    /// (Linear layers, ToyNet's layers): the dense kernels compute it
    /// without the convolution's index arithmetic.
    pub fn is_dense(&self) -> bool {
        self.kind == GeometryKind::Conv
            && self.h_in == 1
            && self.w_in == 1
            && self.kernel == 1
            && self.padding == 0
    }

    /// This layer as a dense layer, where it is one: a dense layer itself,
    /// or a convolution whose window is its whole unpadded input (VanillaNet's
    /// last layer: 4×4 on 4×4 images), a matrix product on the flattened
    /// image with the same memory layout (x [B, C, k, k] = [B, C·k²],
    /// W [c_out, C, k, k] = [c_out, C·k²], y [B, c_out, 1, 1]).
    pub fn as_dense(&self) -> Option<ConvGeometry> {
        if self.is_dense() {
            return Some(*self);
        }
        let whole_window = self.kind == GeometryKind::Conv
            && self.padding == 0
            && self.kernel == self.h_in
            && self.kernel == self.w_in;
        whole_window.then(|| ConvGeometry {
            c_in: self.c_in * self.kernel * self.kernel,
            h_in: 1,
            w_in: 1,
            h_out: 1,
            w_out: 1,
            kernel: 1,
            stride: 1,
            ..*self
        })
    }

    /// Geometry of a 2×2 max-pooling with stride 2.
    pub fn max_pool2(c: usize, [h_in, w_in]: [usize; 2]) -> Result<Self> {
        if c == 0 || h_in < 2 || w_in < 2 {
            return Err(Error::Shape(format!(
                "2×2 max-pooling needs at least 2×2 inputs (got {c} channels of {h_in}×{w_in})"
            )));
        }
        Ok(ConvGeometry {
            c_in: c,
            h_in,
            w_in,
            c_out: c,
            h_out: h_in / 2,
            w_out: w_in / 2,
            kernel: 2,
            stride: 2,
            padding: 0,
            leaky_relu: false,
            kind: GeometryKind::MaxPool2,
        })
    }

    /// Geometry of a non-local block on `c` channels of h×w (kept by the block).
    pub fn non_local(c: usize, [h, w]: [usize; 2]) -> Result<Self> {
        if c == 0 || h < 2 || w < 2 {
            return Err(Error::Shape(format!(
                "a non-local block needs channels and at least 2×2 positions to pool \
                 (got {c} channels of {h}×{w})"
            )));
        }
        Ok(ConvGeometry {
            c_in: c,
            h_in: h,
            w_in: w,
            c_out: c,
            h_out: h,
            w_out: w,
            kernel: 1,
            stride: 1,
            padding: 0,
            leaky_relu: false,
            kind: GeometryKind::NonLocal,
        })
    }

    /// The parts of a non-local block (None for other layers).
    pub fn non_local_parts(&self) -> Option<NonLocalParts> {
        if self.kind != GeometryKind::NonLocal {
            return None;
        }
        let (c, hw) = (self.c_in, [self.h_in, self.w_in]);
        let inter = (c / 2).max(1);
        // The constructors cannot fail: c ≥ 1 and h, w ≥ 2 were checked by `non_local`.
        let qkv = ConvGeometry::conv(c, hw, 3 * inter, 1, 1, 0, false).ok()?;
        let pool = ConvGeometry::max_pool2(3 * inter, hw).ok()?;
        let w = ConvGeometry::conv(inter, hw, c, 1, 1, 0, false).ok()?;
        Some(NonLocalParts {
            inter,
            qkv,
            pool,
            w,
            queries: self.h_in * self.w_in,
            keys: pool.h_out * pool.w_out,
        })
    }

    /// The convolutions holding this layer's parameters, in parameter order:
    /// itself for a convolution, none for max-pooling, (θφg, W) for a
    /// non-local block.
    pub fn param_convs(&self) -> Vec<ConvGeometry> {
        match self.kind {
            GeometryKind::Conv => vec![*self],
            GeometryKind::MaxPool2 => vec![],
            GeometryKind::NonLocal => self.non_local_parts().map_or_else(Vec::new, |p| vec![p.qkv, p.w]),
        }
    }

    /// Geometry of a convolution, or an error when the output would be empty.
    pub fn conv(
        c_in: usize,
        [h_in, w_in]: [usize; 2],
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        leaky_relu: bool,
    ) -> Result<Self> {
        if c_in == 0 || c_out == 0 || h_in == 0 || w_in == 0 || kernel == 0 || stride == 0 {
            return Err(Error::Shape(format!(
                "convolution with a zero size (c_in {c_in}, c_out {c_out}, input {h_in}×{w_in}, \
                 kernel {kernel}, stride {stride})"
            )));
        }
        let out = |n: usize| (n + 2 * padding).checked_sub(kernel).map(|d| d / stride + 1);
        match (out(h_in), out(w_in)) {
            (Some(h_out), Some(w_out)) => Ok(ConvGeometry {
                c_in,
                h_in,
                w_in,
                c_out,
                h_out,
                w_out,
                kernel,
                stride,
                padding,
                leaky_relu,
                kind: GeometryKind::Conv,
            }),
            _ => Err(Error::Shape(format!(
                "a {kernel}×{kernel} convolution with padding {padding} does not fit a \
                 {h_in}×{w_in} input"
            ))),
        }
    }

    pub fn in_len(&self) -> usize {
        self.c_in * self.h_in * self.w_in
    }
    pub fn out_len(&self) -> usize {
        self.c_out * self.h_out * self.w_out
    }
    /// Weights of a convolution (c_out · c_in · k²).
    pub fn weight_len(&self) -> usize {
        self.c_out * self.c_in * self.kernel * self.kernel
    }
    pub fn fan_in(&self) -> usize {
        self.c_in * self.kernel * self.kernel
    }
}

/// Where one named tensor lives in the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSlot {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
    /// PyTorch's default initialisation draws U(±1/√fan_in); 0 means the
    /// tensor starts at zero (the W of a non-local block).
    pub fan_in: usize,
}

/// Where one convolution's parameters start: its weight [c_out, c_in, k, k]
/// then, right after, its bias [c_out] (the weight-gradient reduction writes
/// both as one row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSlot {
    pub weight: usize,
    pub bias: usize,
}

/// All parameters of a network in one flat f32 vector, tensors named as
/// PyTorch's state dict. A non-local block's θ, φ, g weights lie side by
/// side (then their biases) so that one convolution computes all three.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    /// In offset order.
    pub tensors: Vec<TensorSlot>,
    pub total: usize,
    /// For each layer, where each of its [`ConvGeometry::param_convs`] starts.
    pub layer_convs: Vec<Vec<ConvSlot>>,
}

impl ParamLayout {
    pub fn get(&self, name: &str) -> Option<&TensorSlot> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

impl LayerSpec {
    /// Layer `name` computing `op` from `c_in` to `c_out` channels (or
    /// features), LeakyReLU after it if `leaky_relu`.
    pub fn new(name: &str, op: LayerOp, c_in: usize, c_out: usize, leaky_relu: bool) -> Self {
        LayerSpec {
            name: name.to_string(),
            op,
            c_in,
            c_out,
            leaky_relu,
        }
    }
}

impl LayerOp {
    /// A square convolution: kernel, stride, padding.
    pub const fn conv(kernel: usize, stride: usize, padding: usize) -> LayerOp {
        LayerOp::Conv2d {
            kernel,
            stride,
            padding,
        }
    }
}

/// The widest base width n_f the image networks take: the paper's use
/// 32–128, and at 1 024 VanillaNet already holds 0.7·10⁹ parameters (past
/// what one GPU buffer holds on most adapters, which is checked too).
pub const MAX_N_F: usize = 1024;

fn check_widths(net: &str, n_c: usize, n_f: usize) -> Result<()> {
    if n_c == 0 || n_f == 0 {
        return Err(Error::Shape(format!(
            "{net} needs n_c ≥ 1 and n_f ≥ 1 (got n_c {n_c}, n_f {n_f})"
        )));
    }
    if n_f > MAX_N_F {
        return Err(Error::Shape(format!(
            "{net} with n_f = {n_f} is wider than ebmscope builds (n_f ≤ {MAX_N_F}; the paper's nets \
             use 32–128): lower net.n_f (--set net.n_f=…; energy: --n-f)"
        )));
    }
    Ok(())
}

impl NetSpec {
    /// A network of one layer on `input` ([C, H, W]), named `name`: the
    /// kernel checks' and tests' unit. A Linear layer takes the flattened input.
    pub fn single_layer(name: &str, input: [usize; 3], op: LayerOp, c_out: usize, leaky_relu: bool) -> Self {
        let c_in = match op {
            LayerOp::Linear => input.iter().product(),
            LayerOp::Conv2d { .. } | LayerOp::MaxPool2 | LayerOp::NonLocal => input[0],
        };
        NetSpec {
            name: name.to_string(),
            input,
            layers: vec![LayerSpec::new("layer", op, c_in, c_out, leaky_relu)],
            input_note: String::new(),
        }
    }

    /// ToyNet of PAPER.md: 2 → 32 → 64 → 64 → 64 → 1 as 1×1 convolutions
    /// on [2, 1, 1] "images" (state-dict names `f.0` … `f.8`).
    pub fn toy() -> Self {
        let widths = [2, 32, 64, 64, 64, 1];
        let layers = (0..5)
            .map(|i| {
                let name = format!("f.{}", 2 * i);
                LayerSpec::new(&name, LayerOp::conv(1, 1, 0), widths[i], widths[i + 1], i < 4)
            })
            .collect();
        NetSpec {
            name: "toy".into(),
            input: [2, 1, 1],
            layers,
            input_note: "ToyNet takes 2-D points: a tensor [B, 2]".into(),
        }
    }

    /// NonlocalNet(n_c, n_f) of PAPER.md on 32×32 images, with the
    /// reference's module names (`convs.0`, `convs.3.theta`, …, `fc.2`).
    pub fn nonlocal(n_c: usize, n_f: usize) -> Result<Self> {
        check_widths("NonlocalNet", n_c, n_f)?;
        let pool = |name: &str, c| LayerSpec::new(name, LayerOp::MaxPool2, c, c, false);
        let block = |name: &str, c| LayerSpec::new(name, LayerOp::NonLocal, c, c, false);
        let layers = vec![
            LayerSpec::new("convs.0", LayerOp::conv(3, 1, 1), n_c, n_f, true),
            pool("convs.2", n_f),
            block("convs.3", n_f),
            LayerSpec::new("convs.4", LayerOp::conv(3, 1, 1), n_f, 2 * n_f, true),
            pool("convs.6", 2 * n_f),
            block("convs.7", 2 * n_f),
            LayerSpec::new("convs.8", LayerOp::conv(3, 1, 1), 2 * n_f, 4 * n_f, true),
            pool("convs.10", 4 * n_f),
            LayerSpec::new("fc.0", LayerOp::Linear, 4 * n_f * 4 * 4, 8 * n_f, true),
            LayerSpec::new("fc.2", LayerOp::Linear, 8 * n_f, 1, false),
        ];
        Ok(NetSpec {
            name: "nonlocal".into(),
            input: [n_c, 32, 32],
            layers,
            input_note: "NonlocalNet expects 32×32 images: three 2×2 poolings leave the 4×4 \
                         feature map its first linear layer takes; resize or crop to 32×32"
                .into(),
        })
    }

    /// VanillaNet(n_c, n_f) of PAPER.md on 32×32 images.
    pub fn vanilla(n_c: usize, n_f: usize) -> Result<Self> {
        check_widths("VanillaNet", n_c, n_f)?;
        let layers = vec![
            LayerSpec::new("f.0", LayerOp::conv(3, 1, 1), n_c, n_f, true),
            LayerSpec::new("f.2", LayerOp::conv(4, 2, 1), n_f, 2 * n_f, true),
            LayerSpec::new("f.4", LayerOp::conv(4, 2, 1), 2 * n_f, 4 * n_f, true),
            LayerSpec::new("f.6", LayerOp::conv(4, 2, 1), 4 * n_f, 8 * n_f, true),
            LayerSpec::new("f.8", LayerOp::conv(4, 1, 0), 8 * n_f, 1, false),
        ];
        Ok(NetSpec {
            name: "vanilla".into(),
            input: [n_c, 32, 32],
            layers,
            input_note: "VanillaNet expects 32×32 images: its last 4×4 convolution without \
                         padding maps the 4×4 feature map to 1×1; resize or crop to 32×32"
                .into(),
        })
    }

    /// The network of `kind`; `n_c`, `n_f` are ignored by ToyNet.
    pub fn build(kind: NetKind, n_c: usize, n_f: usize) -> Result<Self> {
        match kind {
            NetKind::Toy => Ok(NetSpec::toy()),
            NetKind::Vanilla => NetSpec::vanilla(n_c, n_f),
            NetKind::Nonlocal => NetSpec::nonlocal(n_c, n_f),
        }
    }

    /// Geometry of every layer, checking that each fits its input.
    pub fn geometry(&self) -> Result<Vec<ConvGeometry>> {
        let [mut c, mut h, mut w] = self.input;
        let mut out = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let g = match l.op {
                LayerOp::Conv2d {
                    kernel,
                    stride,
                    padding,
                } => {
                    if l.c_in != c {
                        return Err(Error::Shape(format!(
                            "layer {} expects {} input channels but receives {c}",
                            l.name, l.c_in
                        )));
                    }
                    ConvGeometry::conv(c, [h, w], l.c_out, kernel, stride, padding, l.leaky_relu)
                }
                LayerOp::Linear => {
                    if l.c_in != c * h * w {
                        return Err(Error::Shape(format!(
                            "layer {} expects {} input features but receives {c}×{h}×{w} = {}",
                            l.name,
                            l.c_in,
                            c * h * w
                        )));
                    }
                    ConvGeometry::conv(c * h * w, [1, 1], l.c_out, 1, 1, 0, l.leaky_relu)
                }
                LayerOp::MaxPool2 => {
                    if l.c_in != c || l.c_out != c || l.leaky_relu {
                        return Err(Error::Shape(format!(
                            "layer {}: max-pooling keeps its {c} channels and has no activation",
                            l.name
                        )));
                    }
                    ConvGeometry::max_pool2(c, [h, w])
                }
                LayerOp::NonLocal => {
                    if l.c_in != c || l.c_out != c || l.leaky_relu {
                        return Err(Error::Shape(format!(
                            "layer {}: a non-local block keeps its {c} channels and has no activation",
                            l.name
                        )));
                    }
                    ConvGeometry::non_local(c, [h, w])
                }
            }
            .map_err(|e| Error::Shape(format!("{} of {}: {e}", l.name, self.name)))?;
            (c, h, w) = (g.c_out, g.h_out, g.w_out);
            out.push(g);
        }
        Ok(out)
    }

    /// Per-image output shape [C, H, W] of the last layer.
    pub fn output_shape(&self) -> Result<[usize; 3]> {
        let g = self.geometry()?;
        Ok(g.last().map_or(self.input, |g| [g.c_out, g.h_out, g.w_out]))
    }

    /// Refuse a per-image input shape other than the network's.
    pub fn check_input(&self, chw: [usize; 3]) -> Result<()> {
        if chw == self.input {
            return Ok(());
        }
        let [c, h, w] = self.input;
        if [h, w] == [1, 1] {
            return Err(Error::Shape(format!(
                "net `{}` takes points of {c} values (a tensor [B, {c}]), not images of shape {chw:?} \
                 (C, H, W)",
                self.name
            )));
        }
        // The two likeliest mix-ups get their own fix: another number of
        // channels, and channels-last images.
        let fix = if [chw[1], chw[2]] == [h, w] && h > 1 {
            format!(
                "The net is built for {c} channel{} and these images have {}: build it for them \
                 (energy --n-c {}; a run's data.channels)",
                if c == 1 { "" } else { "s" },
                chw[0],
                chw[0]
            )
        } else if [chw[0], chw[1]] == [h, w] && chw[2] == c && h > 1 {
            "These look channels-last (H, W, C): permute them to (C, H, W), as PyTorch's \
             x.permute(0, 3, 1, 2)"
                .to_string()
        } else {
            self.input_note.to_string()
        };
        Err(Error::Shape(format!(
            "net `{}` expects images of shape [{c}, {h}, {w}] (C, H, W), got {:?}. {fix}",
            self.name, chw
        )))
    }

    /// Flat parameter layout with PyTorch state-dict names and shapes.
    pub fn param_layout(&self) -> Result<ParamLayout> {
        let geometry = self.geometry()?;
        let mut tensors = Vec::new();
        let mut layer_convs = Vec::new();
        let mut offset = 0;
        let mut push = |name: String, shape: Vec<usize>, fan_in: usize| {
            let len = shape.iter().product();
            tensors.push(TensorSlot {
                name,
                shape,
                offset,
                len,
                fan_in,
            });
            offset += len;
            offset - len
        };
        for (l, g) in self.layers.iter().zip(&geometry) {
            let n = &l.name;
            let convs = match l.op {
                LayerOp::MaxPool2 => vec![],
                LayerOp::Conv2d { kernel, .. } => {
                    let fan_in = g.fan_in();
                    let weight = push(
                        format!("{n}.weight"),
                        vec![l.c_out, l.c_in, kernel, kernel],
                        fan_in,
                    );
                    let bias = push(format!("{n}.bias"), vec![l.c_out], fan_in);
                    vec![ConvSlot { weight, bias }]
                }
                LayerOp::Linear => {
                    let fan_in = l.c_in;
                    let weight = push(format!("{n}.weight"), vec![l.c_out, l.c_in], fan_in);
                    let bias = push(format!("{n}.bias"), vec![l.c_out], fan_in);
                    vec![ConvSlot { weight, bias }]
                }
                LayerOp::NonLocal => {
                    let (c, i) = (l.c_in, (l.c_in / 2).max(1));
                    let parts = ["theta", "phi.0", "g.0"];
                    // θ, φ, g weights side by side, then their biases: one convolution.
                    let weights: Vec<usize> = parts
                        .iter()
                        .map(|p| push(format!("{n}.{p}.weight"), vec![i, c, 1, 1], c))
                        .collect();
                    let biases: Vec<usize> = parts
                        .iter()
                        .map(|p| push(format!("{n}.{p}.bias"), vec![i], c))
                        .collect();
                    let (weight, bias) = (weights[0], biases[0]);
                    let w_weight = push(format!("{n}.W.weight"), vec![c, i, 1, 1], 0);
                    let w_bias = push(format!("{n}.W.bias"), vec![c], 0);
                    vec![
                        ConvSlot { weight, bias },
                        ConvSlot {
                            weight: w_weight,
                            bias: w_bias,
                        },
                    ]
                }
            };
            layer_convs.push(convs);
        }
        Ok(ParamLayout {
            tensors,
            total: offset,
            layer_convs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanilla_shapes_follow_the_reference() {
        let net = NetSpec::vanilla(3, 32).unwrap();
        let g = net.geometry().unwrap();
        let sizes: Vec<_> = g.iter().map(|g| (g.c_out, g.h_out)).collect();
        assert_eq!(sizes, vec![(32, 32), (64, 16), (128, 8), (256, 4), (1, 1)]);
        let layout = net.param_layout().unwrap();
        assert_eq!(layout.get("f.0.weight").unwrap().shape, vec![32, 3, 3, 3]);
        assert_eq!(layout.get("f.8.weight").unwrap().shape, vec![1, 256, 4, 4]);
        assert_eq!(layout.tensors.len(), 10);
        // The last layer's window is its whole image: a dense layer of
        // 256·4·4 inputs; the others are convolutions.
        let last = g[4].as_dense().unwrap();
        assert_eq!((last.c_in, last.c_out, last.h_in, last.kernel), (4096, 1, 1, 1));
        assert!(g[..4].iter().all(|g| g.as_dense().is_none()));
        let padded = ConvGeometry { padding: 1, ..g[4] };
        assert!(padded.as_dense().is_none());
    }

    #[test]
    fn nonlocal_names_and_shapes_follow_the_reference() {
        let net = NetSpec::nonlocal(3, 32).unwrap();
        let g = net.geometry().unwrap();
        let sizes: Vec<_> = g.iter().map(|g| (g.c_out, g.h_out)).collect();
        assert_eq!(
            sizes,
            vec![
                (32, 32),
                (32, 16),
                (32, 16),
                (64, 16),
                (64, 8),
                (64, 8),
                (128, 8),
                (128, 4),
                (256, 1),
                (1, 1)
            ]
        );
        let parts = g[2].non_local_parts().unwrap();
        assert_eq!((parts.inter, parts.queries, parts.keys), (16, 256, 64));
        let layout = net.param_layout().unwrap();
        let shape = |name: &str| layout.get(name).unwrap().shape.clone();
        assert_eq!(shape("convs.0.weight"), vec![32, 3, 3, 3]);
        assert_eq!(shape("convs.3.theta.weight"), vec![16, 32, 1, 1]);
        assert_eq!(shape("convs.3.phi.0.weight"), vec![16, 32, 1, 1]);
        assert_eq!(shape("convs.3.g.0.bias"), vec![16]);
        assert_eq!(shape("convs.7.W.weight"), vec![64, 32, 1, 1]);
        assert_eq!(shape("convs.8.weight"), vec![128, 64, 3, 3]);
        assert_eq!(shape("fc.0.weight"), vec![256, 2048]);
        assert_eq!(shape("fc.2.weight"), vec![1, 256]);
        // θ, φ, g weights side by side, then their biases: one convolution.
        let theta = layout.get("convs.3.theta.weight").unwrap();
        assert_eq!(
            layout.get("convs.3.g.0.weight").unwrap().offset,
            theta.offset + 2 * theta.len
        );
        assert_eq!(layout.layer_convs[2][0].bias, theta.offset + 3 * theta.len);
        // 8 tensors per block, 2 per convolution or linear layer.
        assert_eq!(layout.tensors.len(), 2 * 8 + 5 * 2);
        let offsets: Vec<_> = layout.tensors.iter().map(|t| t.offset).collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_non_local_block_needs_positions_to_pool() {
        let err = ConvGeometry::non_local(4, [1, 8]).unwrap_err().to_string();
        assert!(err.contains("2×2"), "{err}");
    }

    #[test]
    fn toy_layout_names_and_shapes() {
        let layout = NetSpec::toy().param_layout().unwrap();
        let names: Vec<_> = layout.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names[0], "f.0.weight");
        assert_eq!(names[9], "f.8.bias");
        assert_eq!(layout.get("f.0.weight").unwrap().shape, vec![32, 2, 1, 1]);
        assert_eq!(
            layout.total,
            2 * 32 + 32 + 32 * 64 + 64 + 2 * (64 * 64 + 64) + 64 + 1
        );
    }

    #[test]
    fn vanilla_refuses_other_image_sizes() {
        let net = NetSpec::vanilla(1, 4).unwrap();
        let err = net.check_input([1, 28, 28]).unwrap_err().to_string();
        assert!(err.contains("32×32"), "{err}");
    }

    #[test]
    fn toy_refuses_images_as_points() {
        let err = NetSpec::toy().check_input([3, 32, 32]).unwrap_err().to_string();
        assert!(
            err.contains(
                "net `toy` takes points of 2 values (a tensor [B, 2]), not images of shape [3, 32, 32]"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_kernel_larger_than_the_input_is_refused() {
        let err = ConvGeometry::conv(1, [2, 2], 1, 4, 1, 0, false).unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
    }
}
