"""nnU-Net v2's default trainer with the schedule of `scripts/device_check.sh`.

The device check runs nnU-Net beside nnunet-rs on the same plans and the same number of
iterations. nnU-Net reads no schedule from its command line, so this subclass takes it from the
environment; `nnUNet_extTrainer` points at this folder and `-tr nnUNetTrainer_DeviceCheck` picks it.

    DEVICE_CHECK_EPOCHS      epochs (nnU-Net: 1000)
    DEVICE_CHECK_ITERS       training iterations per epoch (250)
    DEVICE_CHECK_VAL_ITERS   validation batches per epoch (50)
    DEVICE_CHECK_SKIP_VAL=1  skip the end-of-training validation (the speed step)

Everything else (network, loss, augmentation, optimiser, AMP on CUDA) is nnUNetTrainer's.
"""

import os

import torch

from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainer_DeviceCheck(nnUNetTrainer):
    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device('cuda')):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = int(os.environ.get('DEVICE_CHECK_EPOCHS', self.num_epochs))
        self.num_iterations_per_epoch = int(
            os.environ.get('DEVICE_CHECK_ITERS', self.num_iterations_per_epoch))
        self.num_val_iterations_per_epoch = int(
            os.environ.get('DEVICE_CHECK_VAL_ITERS', self.num_val_iterations_per_epoch))

    def perform_actual_validation(self, save_probabilities: bool = False):
        if os.environ.get('DEVICE_CHECK_SKIP_VAL') == '1':
            self.print_to_log_file('DeviceCheck: end-of-training validation skipped')
            return
        super().perform_actual_validation(save_probabilities)
