//! Device acquisition, the pipeline cache, buffer helpers and readback.
//!
//! A [`Gpu`] is created once and passed by reference to everything that
//! records GPU work, so tests and the window can inject their own.

mod adapter;
pub mod pipeline_stats;

pub use adapter::{
    AdapterChoice, AdapterReport, STORAGE_BUFFERS_NEEDED, WORKGROUP_STORAGE_NEEDED, list_adapters,
};

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use wgpu::util::DeviceExt;

use crate::kernels::Shader;
use crate::kernels::conv2d::{MeasuredKey, TiledPasses, UNIFORM_SOURCE_LEN};
use crate::{Error, Result};

/// Which kernels a convolution's passes (forward, ∂/∂x, ∂/∂θ) run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConvKernels {
    /// The direct kernels (conv2d_*: a few outputs per invocation).
    Direct,
    /// The tiled implicit GEMMs (conv2d_*_tiled: workgroup-memory tiles).
    Tiled,
    /// Per pass, the tiled kernel where its GEMM fills a tile's rows
    /// (channels; ∂/∂θ: half of them), the direct one elsewhere.
    // The rule: crate::kernels::conv2d::TiledPasses::by_shape.
    ByShape,
    /// Per layer and pass, whichever of the two ran faster on this adapter,
    /// timed on the layer's shape and batch when the net is built (as
    /// PyTorch's `cudnn.benchmark`). Two runs may then choose differently
    /// and agree only within rounding, so it is not the default.
    // The timing: crate::kernels::conv2d::ConvLayer::measured_passes.
    Measured,
}

impl ConvKernels {
    pub fn name(self) -> &'static str {
        match self {
            ConvKernels::Direct => "direct",
            ConvKernels::Tiled => "tiled",
            ConvKernels::ByShape => "tiled or direct by shape",
            ConvKernels::Measured => "tiled or direct by measured speed",
        }
    }
}

/// Invocations per workgroup of every 1-D kernel (`@workgroup_size(64)` in
/// shaders/) but langevin_step, which has LARGEST_WORKGROUP per chain;
/// `dispatch` counts workgroups in WORKGROUP_SIZE invocations.
pub const WORKGROUP_SIZE: u32 = 64;
/// langevin_step's workgroup (WebGPU's guaranteed limit).
pub const LARGEST_WORKGROUP: u32 = 256;

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// The instance and adapter behind `device`: the window shares them.
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    /// The adapter writes GPU timestamps at compute-pass boundaries (benchmarks).
    pub timestamps: bool,
    /// Largest workgroup count per dispatch dimension; lowered in tests to
    /// exercise the 2-D split of large dispatches.
    max_groups_per_dim: u32,
    /// The convolution kernels networks built from now on run (see
    /// [`ConvKernels`]). Default, unless the [`AdapterChoice`] names them:
    /// `ByShape` on hardware GPUs; `Direct` on
    /// CPU adapters, where lavapipe runs most tiled passes several times
    /// slower (its workgroup memory and barriers are emulated; README,
    /// Performance, has the figures).
    conv_kernels: Mutex<ConvKernels>,
    /// Whether the direct convolutions of nets built from now on read
    /// their weight views from uniform buffers (see
    /// [`Gpu::uniform_weight_views`]).
    uniform_weight_views: Mutex<bool>,
    /// The passes `ConvKernels::Measured` chose, by layer shape and batch:
    /// each is timed once, and every net of that shape runs the same kernels.
    measured_passes: Mutex<HashMap<MeasuredKey, TiledPasses>>,
    /// Compiled pipelines by shader name and override constants.
    pipelines: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
    /// What made each of them, in the order compiled (pipeline statistics).
    compiled: Mutex<Vec<pipeline_stats::CompiledPipeline>>,
    /// The writable storage bindings (group 0) of each compiled pipeline's
    /// shader ([`Gpu::bind_group_numbered`] refuses one that overlaps
    /// another binding of its buffer).
    writable_bindings: Mutex<HashMap<wgpu::ComputePipeline, Vec<u32>>>,
    /// Kernel launches recorded so far ([`Gpu::dispatches_recorded`]).
    dispatches: std::sync::atomic::AtomicU64,
    gate: SubmitGate,
}

/// Lets the window stop new submissions while its surface is (re)configured:
/// wgpu refuses to configure a surface while another thread submits to the
/// same queue. The count says how many holders keep the gate shut.
#[derive(Default)]
struct SubmitGate {
    held: Mutex<u32>,
    opened: Condvar,
}

impl Gpu {
    /// Open a device on the best adapter `choice` selects (see
    /// [`AdapterChoice`]); where its driver fails to open one, on the next
    /// best adapter that can run the kernels, with a warning.
    pub fn new(choice: &AdapterChoice) -> Result<Self> {
        let (instance, mut candidates) = choice.candidates()?;
        // Unsuitable adapters come last: the best one's refusal is the answer.
        let best = candidates.remove(0);
        candidates.retain(|a| adapter::check_suitable(&a.get_info().name, &a.limits()).is_ok());
        candidates.insert(0, best);
        let (gpu, passed_over) = first_that_opens(candidates, |adapter| {
            Self::open(choice, instance.clone(), adapter)
        })?;
        for err in passed_over {
            eprintln!("warning: {err}; using `{}`, the next best", gpu.info.name);
        }
        Ok(gpu)
    }

    fn open(choice: &AdapterChoice, instance: wgpu::Instance, adapter: wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        // Ask for everything the adapter offers: wgpu's defaults are smaller
        // than most adapters allow, and on GL they can leave compute unusable.
        let limits = adapter.limits();
        adapter::check_suitable(&info.name, &limits)?;
        // Timestamps only serve `bench`; nothing else depends on optional features.
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let required_features = if timestamps {
            wgpu::Features::TIMESTAMP_QUERY
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ebmscope"),
            required_features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Device {
            adapter: info.name.clone(),
            reason: e.to_string(),
        })?;
        // (Not where the user named it, nor where `info` has just listed it.)
        if info.device_type == wgpu::DeviceType::Cpu && !choice.quiet && !choice.named() {
            warn_cpu_adapter_once(&info);
        }
        Ok(Gpu {
            device,
            queue,
            max_groups_per_dim: limits.max_compute_workgroups_per_dimension,
            conv_kernels: Mutex::new(choice.conv_kernels.unwrap_or(
                if info.device_type == wgpu::DeviceType::Cpu {
                    ConvKernels::Direct
                } else {
                    ConvKernels::ByShape
                },
            )),
            uniform_weight_views: Mutex::new(info.device_type == wgpu::DeviceType::Cpu),
            measured_passes: Mutex::new(HashMap::new()),
            dispatches: Default::default(),
            info,
            limits,
            instance,
            adapter,
            timestamps,
            pipelines: Mutex::new(HashMap::new()),
            compiled: Mutex::new(Vec::new()),
            writable_bindings: Mutex::new(HashMap::new()),
            gate: SubmitGate::default(),
        })
    }

    /// The convolution kernels networks built now get.
    pub fn conv_kernels(&self) -> ConvKernels {
        *self.conv_kernels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Choose the convolution kernels of networks built from now on (tests,
    /// benchmarks; results agree within the layer tolerance).
    pub fn set_conv_kernels(&self, kernels: ConvKernels) {
        *self.conv_kernels.lock().unwrap_or_else(|e| e.into_inner()) = kernels;
    }

    /// Whether the direct convolutions of nets built from now on read their
    /// weight views from uniform bindings of 64 KiB, a dispatch each, where
    /// a group of 4 channels' weights fits one (conv2d::UNIFORM_VIEWS_LEN,
    /// ConvParams::view_chunks), and their sources (input, ∂L/∂z) likewise
    /// where an image fits one (ConvParams::source_chunks; the forward and
    /// ∂/∂x passes where their views are uniform): by default on CPU adapters, where
    /// lavapipe reads uniform buffers in about a fifth of the instructions
    /// it spends on storage buffers; GPUs read them as storage
    /// (conv_weight_views_uniform.wgsl says why).
    pub fn uniform_weight_views(&self) -> bool {
        *self
            .uniform_weight_views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Choose how nets built from now on bind their weight views (tests,
    /// benchmarks; the results are the same).
    pub fn set_uniform_weight_views(&self, uniform: bool) {
        *self
            .uniform_weight_views
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = uniform;
    }

    /// The passes measured earlier for a layer of this shape and batch.
    pub(crate) fn measured_passes(&self, key: &MeasuredKey) -> Option<TiledPasses> {
        let measured = self.measured_passes.lock().unwrap_or_else(|e| e.into_inner());
        measured.get(key).copied()
    }

    /// How many layer shapes (with their batch) `ConvKernels::Measured` has timed.
    pub fn measured_shapes(&self) -> usize {
        self.measured_passes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub(crate) fn remember_measured_passes(&self, key: MeasuredKey, passes: TiledPasses) {
        let mut measured = self.measured_passes.lock().unwrap_or_else(|e| e.into_inner());
        measured.insert(key, passes);
    }

    /// Submit `commands` once the gate is open; every submission of
    /// ebmscope's own work goes through here (see [`Gpu::hold_submissions`]).
    pub fn submit(&self, commands: wgpu::CommandBuffer) -> wgpu::SubmissionIndex {
        let mut held = self.gate.held.lock().unwrap_or_else(|p| p.into_inner());
        while *held > 0 {
            held = self.gate.opened.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        // Submitted with the lock taken, so no submission starts after a hold.
        self.queue.submit([commands])
    }

    /// Stop new submissions from [`Gpu::submit`] until the matching
    /// [`Gpu::release_submissions`] (the window holds it across a surface
    /// configuration; work already submitted still runs).
    pub fn hold_submissions(&self) {
        *self.gate.held.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }

    pub fn release_submissions(&self) {
        let mut held = self.gate.held.lock().unwrap_or_else(|p| p.into_inner());
        *held = held.saturating_sub(1);
        if *held == 0 {
            self.gate.opened.notify_all();
        }
    }

    /// One line naming the adapter, for logs and reports.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?}, {})",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            driver_words(&self.info)
        )
    }

    pub fn is_cpu_adapter(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Refuse a buffer of `bytes` that one binding of this adapter cannot
    /// hold, naming what it is and what to do.
    pub fn check_binding(&self, what: &str, bytes: u64, fix: &str) -> Result<()> {
        // (Metal may grant more than 4 GiB; the kernels index bytes and f32s
        // in u32, as WGSL's arrays are.)
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(u64::from(u32::MAX));
        if bytes <= max {
            return Ok(());
        }
        Err(Error::Shape(format!(
            "{what} needs {} MiB in one GPU buffer, more than this adapter allows ({} MiB): {fix}",
            bytes.div_ceil(1 << 20),
            max >> 20
        )))
    }

    /// Lower the per-dimension workgroup limit (for tests of the 2-D dispatch split).
    pub fn limit_groups_per_dim(&mut self, n: u32) {
        self.max_groups_per_dim = n.clamp(1, self.limits.max_compute_workgroups_per_dimension);
    }

    /// The compute pipeline of `shader`, compiled once per device and cached by name.
    pub fn pipeline(&self, shader: &Shader) -> Result<Arc<wgpu::ComputePipeline>> {
        self.specialised_pipeline(shader, &[])
    }

    /// The pipeline of `shader` with its `override` constants set to
    /// `constants` (name, value), compiled once per device and set of values:
    /// a kernel specialised to a layer's shape, whose loops the driver can unroll.
    pub fn specialised_pipeline(
        &self,
        shader: &Shader,
        constants: &[(&str, f64)],
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let mut key = shader.name.to_string();
        for (name, value) in constants {
            key.push_str(&format!(" {name}={value}"));
        }
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(&key) {
            return Ok(p.clone());
        }
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(shader.name),
            source: wgpu::ShaderSource::Wgsl(shader.source.into()),
        };
        // wgpu's checks, bounds checks included, but for the counter it adds
        // to every loop so that a loop without end cannot hang the device:
        // with that counter VanillaNet-8's forward and ∂/∂x took lavapipe
        // 1.16× the instructions (README, Performance).
        let checks = wgpu::ShaderRuntimeChecks {
            force_loop_bounding: false,
            ..wgpu::ShaderRuntimeChecks::checked()
        };
        // SAFETY: without loop bounding a shader must have no loop without
        // end. Every loop of ebmscope's shaders is a `for` stepping by a
        // constant toward a bound (tests/shaders.rs,
        // every_loop_steps_by_a_constant), and every bound is a size below
        // the 2³⁰ values of a binding or a count of steps or layers, so no
        // loop counter wraps before it.
        let (pipeline, error) = self.catch_errors(|| {
            let module = unsafe { self.device.create_shader_module_trusted(desc, checks) };
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(shader.name),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        ..Default::default()
                    },
                    cache: None,
                })
        });
        if let Some(err) = error {
            return Err(Error::Shader {
                shader: shader.name.to_string(),
                reason: err.to_string(),
            });
        }
        self.writable_bindings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pipeline.clone(), writable_bindings(shader.source));
        let pipeline = Arc::new(pipeline);
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(pipeline_stats::CompiledPipeline {
                key: key.clone(),
                source: shader.source,
                constants: constants.iter().map(|&(n, v)| (n.to_string(), v)).collect(),
            });
        cache.insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// What made each kernel compiled on this Gpu so far, in order.
    pub fn compiled_pipelines(&self) -> Vec<pipeline_stats::CompiledPipeline> {
        self.compiled.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What the Vulkan driver says of every kernel compiled on this Gpu so
    /// far (registers, shared and spilled memory …: see pipeline_stats),
    /// where it reports them.
    pub fn pipeline_statistics(&self) -> Result<Vec<pipeline_stats::PipelineStatistics>> {
        if self.info.backend != wgpu::Backend::Vulkan {
            return Err(Error::Config(format!(
                "pipeline statistics are Vulkan's, and this adapter runs on {:?}: run with --backend vulkan",
                self.info.backend
            )));
        }
        pipeline_stats::pipeline_statistics(&self.info, &self.compiled_pipelines())
    }

    /// `make()` and the wgpu error it caused, if any: running out of
    /// memory before any other (a buffer that could not be made is
    /// invalid, and every later use of it a validation error). Uncaptured
    /// wgpu errors panic; scopes turn a refusal into an error: wgpu's
    /// validation, a backend compiler's (Metal, DXC, a GL or Vulkan driver:
    /// wgpu calls those internal errors) or memory running out. (Scopes are
    /// per thread: `make` must not hand its work to another.)
    fn catch_errors<T>(&self, make: impl FnOnce() -> T) -> (T, Option<wgpu::Error>) {
        let scopes = [
            wgpu::ErrorFilter::Validation,
            wgpu::ErrorFilter::Internal,
            wgpu::ErrorFilter::OutOfMemory,
        ]
        .map(|filter| self.device.push_error_scope(filter));
        let made = make();
        // (Popped innermost first, as they nest: out of memory, internal,
        // validation.)
        let errors: Vec<wgpu::Error> = scopes
            .into_iter()
            .rev()
            .filter_map(|scope| pollster::block_on(scope.pop()))
            .collect();
        (made, errors.into_iter().next())
    }

    /// `make()`, which allocates `what` (GPU buffers), with running out of
    /// GPU memory an error that names `what` and `fix` (the settings that
    /// size it), not a panic, and put before an error of `make`'s own (which
    /// may follow from it); so is any other refusal by wgpu.
    pub fn allocating<T>(&self, what: &str, fix: &str, make: impl FnOnce() -> Result<T>) -> Result<T> {
        let (made, error) = self.catch_errors(make);
        match error {
            Some(wgpu::Error::OutOfMemory { .. }) => Err(Error::OutOfMemory {
                what: what.to_string(),
                adapter: self.info.name.clone(),
                fix: fix.to_string(),
            }),
            Some(e) => made.and(Err(Error::Refused {
                what: what.to_string(),
                reason: e.to_string(),
            })),
            None => made,
        }
    }

    /// Bytes of device memory held by live buffers (and textures), as the
    /// backend's allocator counts them (alignment included); None where the
    /// backend keeps no count (GL, Metal). Uploads still pending are
    /// submitted and the GPU is waited for first: until then their staging
    /// buffers, and buffers dropped meanwhile, would be counted too.
    pub fn allocated_bytes(&self) -> Result<Option<u64>> {
        let encoder = self.device.create_command_encoder(&Default::default());
        self.submit(encoder.finish());
        self.wait()?;
        Ok(self.allocated_bytes_now())
    }

    /// The same without waiting for the GPU (for the window, which must not
    /// wait): uploads in flight may be counted.
    pub fn allocated_bytes_now(&self) -> Option<u64> {
        self.device
            .generate_allocator_report()
            .map(|r| r.total_allocated_bytes)
    }

    /// Bytes as MiB, as figures of memory are shown.
    pub fn mib(bytes: u64) -> f64 {
        bytes as f64 / (1024.0 * 1024.0)
    }

    /// A storage buffer of `len` f32, zeroed: at least 4, as wgpu refuses
    /// empty bindings and a binding as vec4s needs one whole vec4 (the
    /// direct convolutions bind their input both ways).
    pub fn storage_buffer(&self, label: &str, len: usize) -> wgpu::Buffer {
        self.storage_buffer_also(label, len, wgpu::BufferUsages::empty())
    }

    /// A net's activation (or its gradient) buffer of `len` f32, in whole
    /// vec4s (the elementwise passes read and write vec4s). For a net with
    /// direct convolutions (`direct_convs`): where they read their weight
    /// views from uniform bindings (CPU adapters), they read their sources
    /// (input, ∂L/∂z) so too, so such a buffer is also a uniform buffer, at
    /// least one binding long and a whole number of 256-byte binding steps
    /// (ConvParams::source_chunks). Else a storage buffer.
    pub fn activation_buffer(&self, label: &str, len: usize, direct_convs: bool) -> wgpu::Buffer {
        if direct_convs && self.uniform_weight_views() {
            let len = len.max(4 * UNIFORM_SOURCE_LEN).next_multiple_of(64);
            self.storage_buffer_also(label, len, wgpu::BufferUsages::UNIFORM)
        } else {
            self.storage_buffer(label, len.next_multiple_of(4))
        }
    }

    /// The same, usable as `also` too (e.g. a uniform buffer that kernels
    /// write as storage).
    pub fn storage_buffer_also(&self, label: &str, len: usize, also: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (len.max(4) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST
                | also,
            mapped_at_creation: false,
        })
    }

    /// A uniform buffer holding `value`.
    pub fn uniform_buffer<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// A bind group with `buffers` bound in order to bindings 0, 1, 2, … of group 0.
    pub fn bind_group(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let resources = buffers.iter().map(|b| b.as_entire_binding()).collect();
        self.bind_group_resources(label, pipeline, resources)
    }

    /// The same with `resources` (parts of buffers) bound in order.
    pub fn bind_group_resources(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        resources: Vec<wgpu::BindingResource>,
    ) -> wgpu::BindGroup {
        let numbered = resources.into_iter().enumerate().map(|(i, r)| (i as u32, r));
        self.bind_group_numbered(label, pipeline, numbered.collect())
    }

    /// The same with each resource at its binding number (a kernel variant
    /// may leave a binding out).
    pub fn bind_group_numbered(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        resources: Vec<(u32, wgpu::BindingResource)>,
    ) -> wgpu::BindGroup {
        self.refuse_writable_aliasing(label, pipeline, &resources);
        let entries: Vec<_> = resources
            .into_iter()
            .map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    /// WebGPU forbids a writable storage binding that overlaps another
    /// binding of the same buffer in one bind group (browsers refuse it;
    /// wgpu does not check it yet): a kernel bound so is a bug in
    /// ebmscope, refused here as wgpu refuses what it does check.
    fn refuse_writable_aliasing(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        resources: &[(u32, wgpu::BindingResource)],
    ) {
        let writable = self.writable_bindings.lock().unwrap_or_else(|p| p.into_inner());
        let writable = writable.get(pipeline).map_or(&[][..], Vec::as_slice);
        // (binding, buffer, start, end) of each buffer binding.
        let ranges: Vec<_> = resources
            .iter()
            .filter_map(|(binding, resource)| match resource {
                wgpu::BindingResource::Buffer(b) => {
                    let end = b.size.map_or(b.buffer.size(), |size| b.offset + size.get());
                    Some((*binding, b.buffer, b.offset, end))
                }
                _ => None,
            })
            .collect();
        for (i, a) in ranges.iter().enumerate() {
            for b in &ranges[i + 1..] {
                let overlap = a.1 == b.1 && a.2 < b.3 && b.2 < a.3;
                if overlap && (writable.contains(&a.0) || writable.contains(&b.0)) {
                    panic!(
                        "{label}: bindings {} and {} overlap in one buffer and one of them is \
                         writable storage, which WebGPU forbids",
                        a.0, b.0
                    );
                }
            }
        }
    }

    /// Workgroup counts (x, y) covering `invocations` 1-D invocations.
    /// Shaders rebuild the flat index as gid.x + gid.y · (groups_x · 64).
    pub fn dispatch_size(&self, invocations: usize) -> (u32, u32) {
        let groups = invocations.div_ceil(WORKGROUP_SIZE as usize).max(1) as u64;
        let max = u64::from(self.max_groups_per_dim);
        let x = groups.min(max);
        (x as u32, groups.div_ceil(x) as u32)
    }

    /// Record one 1-D kernel launch over `invocations` items.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass,
        pipeline: &wgpu::ComputePipeline,
        bind_group: &wgpu::BindGroup,
        invocations: usize,
    ) {
        let (x, y) = self.dispatch_size(invocations);
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(x, y, 1);
        self.dispatches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Kernel launches recorded on this device so far, by every thread:
    /// the difference across a recording counts its dispatches (benchmarks;
    /// on a GPU each is a pass boundary where the next kernel waits for the
    /// last to drain).
    pub fn dispatches_recorded(&self) -> u64 {
        self.dispatches.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn write_f32(&self, buffer: &wgpu::Buffer, offset_floats: usize, data: &[f32]) {
        self.queue
            .write_buffer(buffer, (offset_floats * 4) as u64, bytemuck::cast_slice(data));
    }

    /// Copy `len` f32 from `buffer` back to the CPU (blocking). For tests,
    /// files and views only: never inside a training or sampling step.
    pub fn read_f32(&self, buffer: &wgpu::Buffer, offset_floats: usize, len: usize) -> Result<Vec<f32>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let size = (len * 4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback staging"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_buffer_to_buffer(buffer, (offset_floats * 4) as u64, &staging, 0, size);
        self.submit(encoder.finish());
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Readback(e.to_string()))?;
        rx.recv()
            .map_err(|e| Error::Readback(e.to_string()))?
            .map_err(|e| Error::Readback(e.to_string()))?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Readback(e.to_string()))?;
        let out = bytemuck::cast_slice::<u8, f32>(&view).to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// Submit `record`ed compute work in one command buffer.
    /// GPU seconds between the start and the end of one compute pass holding
    /// `record`ed work (None when the adapter has no timestamp queries).
    pub fn time_pass(&self, label: &str, record: impl FnOnce(&mut wgpu::ComputePass)) -> Result<Option<f64>> {
        if !self.timestamps {
            return Ok(None);
        }
        let queries = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some(label),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            record(&mut pass);
        }
        encoder.resolve_query_set(&queries, 0..2, &resolved, 0);
        self.submit(encoder.finish());
        let words: Vec<u32> = self
            .read_f32(&resolved, 0, 4)?
            .iter()
            .map(|w| w.to_bits())
            .collect();
        let tick = |i: usize| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32);
        let ticks = tick(1).saturating_sub(tick(0));
        Ok(Some(
            ticks as f64 * f64::from(self.queue.get_timestamp_period()) * 1e-9,
        ))
    }

    /// Seconds the `record`ed work takes: GPU time where the adapter has
    /// timestamps, else wall time around one blocking submission.
    pub fn seconds_of(&self, label: &str, record: impl Fn(&mut wgpu::ComputePass)) -> Result<f64> {
        if let Some(s) = self.time_pass(label, &record)? {
            return Ok(s);
        }
        self.wait()?;
        let start = std::time::Instant::now();
        self.run(label, &record);
        self.wait()?;
        Ok(start.elapsed().as_secs_f64())
    }

    /// Block until every submitted command has finished (for timing).
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Readback(e.to_string()))
    }

    pub fn run(&self, label: &str, record: impl FnOnce(&mut wgpu::ComputePass)) -> wgpu::SubmissionIndex {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            record(&mut pass);
        }
        self.submit(encoder.finish())
    }

    /// Long work as `total` steps in submissions of at most `slice` steps
    /// ([`SLICE_STEPS`] but where a slice of many chains would be long),
    /// so that one stays short on slow adapters: `submit(done, n)` submits
    /// steps done … done + n and returns its index. At most two submissions
    /// are queued (each waits for the one before), so `progress(done)`,
    /// called after each, runs at most a slice ahead of the GPU, and its
    /// error (a stop) takes effect within a slice or two. The last slice is
    /// not waited for: the caller's next readback waits for it.
    pub fn run_in_slices(
        &self,
        total: u64,
        slice: u64,
        mut submit: impl FnMut(u64, u64) -> wgpu::SubmissionIndex,
        mut progress: impl FnMut(u64) -> Result<()>,
    ) -> Result<()> {
        let (mut done, mut previous) = (0, None);
        while done < total {
            let n = slice.max(1).min(total - done);
            let index = submit(done, n);
            if let Some(p) = previous.replace(index) {
                self.device
                    .poll(wgpu::PollType::Wait {
                        submission_index: Some(p),
                        timeout: None,
                    })
                    .map_err(|e| Error::Readback(e.to_string()))?;
            }
            done += n;
            progress(done)?;
        }
        Ok(())
    }
}

/// The binding numbers of group 0 that WGSL `source`, which wgpu has just
/// compiled with the same naga, declares as writable storage.
fn writable_bindings(source: &str) -> Vec<u32> {
    naga::front::wgsl::parse_str(source)
        .expect("wgpu compiled this source with the same naga")
        .global_variables
        .iter()
        .filter_map(|(_, var)| match (var.space, &var.binding) {
            (naga::AddressSpace::Storage { access }, Some(b))
                if b.group == 0 && access.contains(naga::StorageAccess::STORE) =>
            {
                Some(b.binding)
            }
            _ => None,
        })
        .collect()
}

/// Steps of long work per submission ([`Gpu::run_in_slices`]).
pub const SLICE_STEPS: u64 = 50;

/// The first of `candidates` (best first) that `open` opens, with the
/// errors of those before it; where none opens, the best one's error.
fn first_that_opens<C, T>(
    candidates: Vec<C>,
    mut open: impl FnMut(C) -> Result<T>,
) -> Result<(T, Vec<Error>)> {
    let mut passed_over = Vec::new();
    for candidate in candidates {
        match open(candidate) {
            Ok(opened) => return Ok((opened, passed_over)),
            Err(err) => passed_over.push(err),
        }
    }
    Err(passed_over
        .into_iter()
        .next()
        .expect("AdapterChoice::candidates returns at least one"))
}

/// "driver lvp Mesa 22.3.6", leaving out what the backend does not tell
/// (GL names no driver, only its version string).
pub fn driver_words(info: &wgpu::AdapterInfo) -> String {
    let named: Vec<&str> = [info.driver.trim(), info.driver_info.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if named.is_empty() {
        "driver not named".into()
    } else {
        format!("driver {}", named.join(" "))
    }
}

fn warn_cpu_adapter_once(info: &wgpu::AdapterInfo) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "warning: using `{}`, a CPU (software) adapter: results are correct but slow. If this \
             machine has a GPU, install its driver (`ebmscope info` lists the adapters wgpu sees; \
             --adapter NAME chooses one, and silences this).",
            info.name
        );
    });
}

#[cfg(test)]
mod tests {
    use super::{Error, driver_words, first_that_opens};

    /// What a backend leaves empty is left out, not printed as a gap.
    #[test]
    fn the_driver_is_named_by_what_the_backend_tells() {
        let mut info = wgpu::AdapterInfo::new(wgpu::DeviceType::Cpu, wgpu::Backend::Gl);
        assert_eq!(driver_words(&info), "driver not named");
        info.driver_info = "4.5 (Core Profile) Mesa 22.3.6".into();
        assert_eq!(driver_words(&info), "driver 4.5 (Core Profile) Mesa 22.3.6");
        info.driver = "llvmpipe".into();
        assert_eq!(
            driver_words(&info),
            "driver llvmpipe 4.5 (Core Profile) Mesa 22.3.6"
        );
    }

    fn failing(name: &str) -> Error {
        Error::Device {
            adapter: name.into(),
            reason: "lost".into(),
        }
    }

    /// A driver that fails gives way to the next adapter, said; where none
    /// opens, the best one's error is the answer.
    #[test]
    fn an_adapter_that_fails_gives_way_to_the_next() {
        let (opened, passed_over) = first_that_opens(vec!["dx12", "vulkan", "gl"], |name| {
            if name == "dx12" {
                Err(failing(name))
            } else {
                Ok(name)
            }
        })
        .unwrap();
        assert_eq!(opened, "vulkan");
        assert_eq!(passed_over.len(), 1);
        assert!(passed_over[0].to_string().contains("`dx12`"));
        let none = first_that_opens(vec!["dx12", "gl"], |name| Err::<(), _>(failing(name)));
        let err = none.unwrap_err().to_string();
        assert!(err.contains("`dx12`") && err.contains("--adapter NAME"), "{err}");
    }
}
