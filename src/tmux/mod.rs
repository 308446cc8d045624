//! tmux driver
