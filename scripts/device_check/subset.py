"""The raw dataset of scripts/device_check.sh: all of a raw dataset, or its first cases.

    python3 subset.py SOURCE_DATASET_DIR TARGET_DATASET_DIR TRAIN_CASES TEST_CASES

TRAIN_CASES and TEST_CASES are a count or `all`. The target gets links to the chosen images and
labels (imagesTr, labelsTr, imagesTs) and a dataset.json whose numTraining matches. Standard
library only, so it runs with any python3.
"""

import json
import os
import sys


def case_files(folder, ending):
    """Sorted file names in folder ending with ending (none when the folder is absent)."""
    if not os.path.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder) if f.endswith(ending))


def pick(files, count):
    return files if count == "all" else files[: int(count)]


def link_all(source, target, names):
    os.makedirs(target, exist_ok=True)
    for name in names:
        os.symlink(os.path.abspath(os.path.join(source, name)), os.path.join(target, name))


def main():
    source, target, train, test = sys.argv[1:5]
    with open(os.path.join(source, "dataset.json")) as f:
        dataset = json.load(f)
    ending = dataset["file_ending"]
    labels = pick(case_files(os.path.join(source, "labelsTr"), ending), train)
    cases = [name[: -len(ending)] for name in labels]
    images = [
        name
        for name in case_files(os.path.join(source, "imagesTr"), ending)
        if name[: -len(ending) - 5] in set(cases)
    ]
    test_ids = sorted({n[: -len(ending) - 5] for n in case_files(os.path.join(source, "imagesTs"), ending)})
    test_ids = set(pick(test_ids, test))
    tests = [
        n for n in case_files(os.path.join(source, "imagesTs"), ending) if n[: -len(ending) - 5] in test_ids
    ]
    if not cases or not tests:
        sys.exit(f"{source}: no training cases or no test images found")
    link_all(os.path.join(source, "imagesTr"), os.path.join(target, "imagesTr"), images)
    link_all(os.path.join(source, "labelsTr"), os.path.join(target, "labelsTr"), labels)
    link_all(os.path.join(source, "imagesTs"), os.path.join(target, "imagesTs"), tests)
    dataset["numTraining"] = len(cases)
    with open(os.path.join(target, "dataset.json"), "w") as f:
        json.dump(dataset, f, indent=4)
    print(f"{target}: {len(cases)} training cases ({len(images)} images), {len(tests)} test images")


if __name__ == "__main__":
    main()
