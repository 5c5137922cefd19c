"""Real motion capture to joint positions: BVH and DeepMimic clips, forward kinematics, one shared skeleton."""
