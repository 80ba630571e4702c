// workgroup_sum: the sum over a workgroup of `lanes` invocations (a power of
// two up to 256) of one value per invocation, by a tree in workgroup memory
// (no atomics, so the order is fixed and runs repeat bit for bit); every
// invocation gets the total. It has barriers: call it from
// workgroup-uniform control flow with the kernel's constant workgroup size,
// once per dispatch (a second call could overwrite partial_sums while a
// slow invocation still reads the first total).

var<workgroup> partial_sums: array<f32, 256>;

fn workgroup_sum(lid: u32, lanes: u32, value: f32) -> f32 {
    partial_sums[lid] = value;
    workgroupBarrier();
    for (var half = lanes / 2u; half > 0u; half >>= 1u) {
        if (lid < half) {
            partial_sums[lid] += partial_sums[lid + half];
        }
        workgroupBarrier();
    }
    return partial_sums[0];
}
