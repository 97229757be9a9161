"""nnU-Net v2's training epoch, shortened: one epoch of N training + V validation iterations
with nnU-Net's own nnUNetTrainer (CPU, nnUNet_n_proc_DA=0 as in ../shared/peer/README.md), to
put beside `nnunet train --epochs 1 --iterations-per-epoch N --validation-iterations V` on an
otherwise idle machine. Prints the epoch time nnU-Net logs, and skips its final validation.

Usage (nnUNet_raw / nnUNet_preprocessed / nnUNet_results set, dataset preprocessed by nnU-Net):
    PEER/bin/python nnunet_short_epoch.py DATASET_ID CONFIGURATION FOLD N V
"""
import multiprocessing
import os
import sys

os.environ.setdefault("nnUNet_n_proc_DA", "0")
os.environ.setdefault("nnUNet_compile", "f")

import torch  # noqa: E402
from batchgenerators.utilities.file_and_folder_operations import join, load_json  # noqa: E402
from nnunetv2.paths import nnUNet_preprocessed  # noqa: E402
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer  # noqa: E402
from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name  # noqa: E402


def main(dataset_id: str, configuration: str, fold: int, n: int, v: int) -> None:
    torch.set_num_threads(multiprocessing.cpu_count())  # as nnUNetv2_train -device cpu
    name = maybe_convert_to_dataset_name(dataset_id)
    plans = load_json(join(nnUNet_preprocessed, name, "nnUNetPlans.json"))
    dataset_json = load_json(join(nnUNet_preprocessed, name, "dataset.json"))
    plans["continue_training"] = False  # as run_training.get_trainer_from_args sets it

    class nnUNetTrainer_short(nnUNetTrainer):
        def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cpu")):
            super().__init__(plans, configuration, fold, dataset_json, device)
            self.num_iterations_per_epoch = n
            self.num_val_iterations_per_epoch = v
            self.num_epochs = 1

        def perform_actual_validation(self, *args, **kwargs):
            pass

    trainer = nnUNetTrainer_short(plans, configuration, fold, dataset_json, device=torch.device("cpu"))
    trainer.run_training()
    log = trainer.logger.local_logger.my_fantastic_logging
    seconds = log["epoch_end_timestamps"][-1] - log["epoch_start_timestamps"][-1]
    print(f"nnU-Net epoch ({n} train + {v} val iterations): {seconds:.1f} s; "
          f"pseudo-Dice {log['dice_per_class_or_region'][-1]}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
