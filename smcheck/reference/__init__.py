"""The exact reference: softmax, log-softmax and logsumexp beyond every format's precision."""
