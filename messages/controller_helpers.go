package messages

// NewIsr returns the broker ids of the ISR an AlterPartitionRequest asks
// for, in the request's order.
func (x *AlterPartitionRequest) NewIsr() []int32 {
	out := make([]int32, len(x.GetNewIsrWithEpochs()))
	for i, b := range x.GetNewIsrWithEpochs() {
		out[i] = b.GetBrokerId()
	}
	return out
}
