// workgroup_sum: the sum over a workgroup of 64 of one value per invocation,
// by a tree in workgroup memory (no atomics, so the order is fixed and runs
// repeat bit for bit); every invocation gets the total. It has barriers:
// call it from workgroup-uniform control flow, once per dispatch (a second
// call could overwrite partial_sums while a slow invocation still reads the
// first total).

var<workgroup> partial_sums: array<f32, 64>;

fn workgroup_sum(lid: u32, value: f32) -> f32 {
    partial_sums[lid] = value;
    workgroupBarrier();
    for (var half = 32u; half > 0u; half >>= 1u) {
        if (lid < half) {
            partial_sums[lid] += partial_sums[lid + half];
        }
        workgroupBarrier();
    }
    return partial_sums[0];
}
