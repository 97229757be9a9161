fn main() {
    nnunet_build::link_libtorch();
}
