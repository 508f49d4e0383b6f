"""GPU matrix promotion: prove a candidate image on every GPU vendor, then promote its digest."""
