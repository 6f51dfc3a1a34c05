"""Chat platforms: each module turns platform events into `Incoming` and implements `Reply`."""
