#!/usr/bin/env bash
# The 90-kind trial (issue #15): 90 kinds of bad input a new user would give the `nnunet` binary,
# each built from the phantom generator in a fresh folder, run, and classified automatically:
#
#   bad    a panic or signal, exit 0 on bad input, a timeout, a "panicked"/RUST_BACKTRACE text
#   weak   exit != 0, but the message misses the file/case/value it should name, or the run
#          left new files in its output folder, or a temporary file (`*~tmp-*`, `*.tmp`)
#   clear  exit != 0 naming what is wrong, nothing left behind (or, for kinds marked `warn`,
#          exit 0 with a warning naming it: the run legitimately goes on)
#
# Usage: scripts/bad_input_trial.sh [--write-docs] [KIND_NUMBER...]
#   NNUNET_BIN   the binary (default: target/release/nnunet)
#   --write-docs replaces the "The 90-kind trial" table in docs/reliability.md
# Needs bash, coreutils, gzip, jq, zip and Perl (core Compress::Zlib); no GPU, no Python.
set -uo pipefail
unset RUST_BACKTRACE # as a new user runs it: a panic then says "RUST_BACKTRACE"

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${NNUNET_BIN:-$REPO/target/release/nnunet}
WRITE_DOCS=0
ONLY=()
for a in "$@"; do
    case $a in
    --write-docs) WRITE_DOCS=1 ;;
    *) ONLY+=("$a") ;;
    esac
done
[ -x "$BIN" ] || { echo "no binary at $BIN (cargo build --release -p nnunet-cli)" >&2; exit 2; }
TMP=$(mktemp -d /tmp/nnunet-trial.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
BASE=$TMP/base
ROWS=$TMP/rows.md
: >"$ROWS"

nn() { "$BIN" "$@"; }
benv() {
    export nnUNet_raw=$1/raw nnUNet_preprocessed=$1/pre nnUNet_results=$1/res
}

# ---- the shared fixture: 2D and 3D phantoms, a planned 2D dataset, a 1-iteration model ----
build_base() {
    mkdir -p "$BASE"/{raw,pre,res}
    benv "$BASE"
    nn demo-data --dim 2 --cases 5 --test-cases 2 >/dev/null &&
        nn demo-data --dim 3 --cases 2 --test-cases 1 >/dev/null &&
        nn plan-and-preprocess -d 901 -c 2d >/dev/null &&
        nn train -d 901 -c 2d -f 0 --epochs 1 --iterations-per-epoch 1 \
            --validation-iterations 1 --device cpu --workers 1 >/dev/null 2>&1 &&
        nn predict -i "$BASE/raw/Dataset901_Phantom2D/imagesTs" -o "$BASE/pred" -d 901 -c 2d \
            -f 0 --device cpu --save-probabilities --no-tta >/dev/null 2>&1 &&
        nn export-nnunet -i "$BASE/res/Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d" \
            -o "$BASE/nnunet_model" >/dev/null 2>&1 ||
        { echo "building the fixture failed" >&2; exit 2; }
}

# ---- helpers for the kinds ----
jqi() { jq "$2" "$1" >"$1.new" && mv "$1.new" "$1"; }
# A one-case dataset 910 with ENDING: `bad01_0000ENDING` and `bad01ENDING` are for the kind to write.
mini() {
    M=$W/raw/Dataset910_Mini
    mkdir -p "$M/imagesTr" "$M/labelsTr"
    cat >"$M/dataset.json" <<EOF
{"channel_names": {"0": "CT"}, "labels": {"background": 0, "organ": 1},
 "numTraining": 1, "file_ending": "$1"}
EOF
}
nrrd_header() { # TYPE SIZES [EXTRA]
    printf 'NRRD0004\ntype: %s\ndimension: 3\nsizes: %s\nencoding: raw\nendian: little\n%s\n' \
        "$1" "$2" "${3:-}"
}
mha_header() { # ELEMENT_TYPE DIMSIZE DATAFILE
    printf 'ObjectType = Image\nNDims = 3\nDimSize = %s\nElementType = %s\n' "$2" "$1"
    printf 'ElementSpacing = 1 1 1\nElementDataFile = %s\n' "$3"
}
zeros() { head -c "$1" /dev/zero; }
# A WIDTH × HEIGHT PNG, colour type 0 (grey) or 2 (RGB), every sample VALUE (Perl's core zlib).
png() {
    perl -MCompress::Zlib -e '
        my ($w, $h, $ct, $v) = @ARGV; my $n = $ct == 2 ? 3 : 1;
        my $raw = join "", map { "\0" . (chr($v) x ($w * $n)) } 1 .. $h;
        sub chunk { my ($t, $d) = @_; pack("N", length $d) . $t . $d . pack("N", crc32($t . $d)) }
        print "\x89PNG\r\n\x1a\n", chunk("IHDR", pack("NNCCCCC", $w, $h, 8, $ct, 0, 0, 0)),
            chunk("IDAT", compress($raw)), chunk("IEND", "");' "$@"
}
pngsize() { perl -e 'open my $f, "<:raw", $ARGV[0]; read $f, my $b, 24; print join " ", unpack "x16NN", $b' "$1"; }
set_float() { # FILE OFFSET HEXBYTES(le): write 4 bytes in place
    printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ---- the kinds: each sets K (what), C (command shown), T (tokens the message must hold,
# ';'-separated), RUN (the command), optionally O (an output path that must gain nothing),
# MODE=warn (exit 0 with a warning is right) and ENVX (env arguments) ----
kinds() {
    D2=$W/raw/Dataset901_Phantom2D D3=$W/raw/Dataset900_Phantom3D
    P2=$W/pre/Dataset901_Phantom2D MODEL=$W/res/Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d
    PR0=(predict -i "$D2/imagesTs" -d 901 -c 2d -f 0 --no-tta) PR=("${PR0[@]}" --device cpu)
    TR0=(train -d 901 -c 2d --epochs 1 --iterations-per-epoch 1 --validation-iterations 1 --workers 1)
    TR=("${TR0[@]}" --device cpu)
    case $1 in
    # -- image files, each format --
    1) K="truncated .nii.gz image"; C=verify; T="phantom_000_0000.nii.gz"
       truncate -s 500 "$D3/imagesTr/phantom_000_0000.nii.gz"; RUN=(verify -d 900) ;;
    2) K=".nii.gz that is not gzip"; C=fingerprint; T="phantom_001_0000.nii.gz"
       echo "hello" >"$D3/imagesTr/phantom_001_0000.nii.gz"; RUN=(fingerprint -d 900) ;;
    3) K="truncated .nii image"; C=verify; T="bad01_0000.nii"; mini .nii
       gunzip -c "$D3/imagesTr/phantom_000_0000.nii.gz" | head -c 200 >"$M/imagesTr/bad01_0000.nii"
       gunzip -c "$D3/labelsTr/phantom_000.nii.gz" >"$M/labelsTr/bad01.nii"; RUN=(verify -d 910) ;;
    4) K=".nii.gz whose voxel data stop early"; C=fingerprint; T="phantom_000_0000.nii.gz"
       f=$D3/imagesTr/phantom_000_0000.nii.gz
       gunzip -c "$f" >"$W/x.nii"; head -c 5000 "$W/x.nii" | gzip >"$f"; RUN=(fingerprint -d 900) ;;
    5) K="truncated PNG"; C=verify; T="phantom_000_0000.png"
       truncate -s 200 "$D2/imagesTr/phantom_000_0000.png"; RUN=(verify -d 901) ;;
    6) K="a text file named .png"; C=plan-and-preprocess; T="phantom_001_0000.png"
       echo "not a png" >"$D2/imagesTr/phantom_001_0000.png"; RUN=(plan-and-preprocess -d 901 -c 2d)
       rm -rf "$W/pre"/* ;;
    7) K="empty (0-byte) PNG"; C=fingerprint; T="phantom_002_0000.png"
       : >"$D2/imagesTr/phantom_002_0000.png"; RUN=(fingerprint -d 901 --clean) ;;
    8) K="NRRD with too little voxel data"; C=verify; T="bad01_0000.nrrd"; mini .nrrd
       { nrrd_header float "8 8 8"; zeros 100; } >"$M/imagesTr/bad01_0000.nrrd"
       { nrrd_header uint8 "8 8 8"; zeros 512; } >"$M/labelsTr/bad01.nrrd"; RUN=(verify -d 910) ;;
    9) K="NRRD with an unknown encoding"; C=verify; T="bad01_0000.nrrd;bzip9"; mini .nrrd
       nrrd_header float "8 8 8" | sed 's/encoding: raw/encoding: bzip9/' >"$M/imagesTr/bad01_0000.nrrd"
       { nrrd_header uint8 "8 8 8"; zeros 512; } >"$M/labelsTr/bad01.nrrd"; RUN=(verify -d 910) ;;
    10) K="NRRD without its magic line"; C=verify; T="bad01_0000.nrrd"; mini .nrrd
       echo "hello world" >"$M/imagesTr/bad01_0000.nrrd"
       { nrrd_header uint8 "8 8 8"; zeros 512; } >"$M/labelsTr/bad01.nrrd"; RUN=(verify -d 910) ;;
    11) K="NHDR whose data file is missing"; C=verify; T="bad01_0000.raw"; mini .nhdr
       nrrd_header float "8 8 8" "data file: bad01_0000.raw" >"$M/imagesTr/bad01_0000.nhdr"
       { nrrd_header uint8 "8 8 8" "data file: bad01.raw"; } >"$M/labelsTr/bad01.nhdr"
       zeros 512 >"$M/labelsTr/bad01.raw"; RUN=(verify -d 910) ;;
    12) K="NRRD header declaring 100000³ voxels"; C=verify; T="bad01_0000.nrrd;NNUNET_MAX_VOXELS"
       mini .nrrd; { nrrd_header float "100000 100000 100000"; zeros 100; } >"$M/imagesTr/bad01_0000.nrrd"
       { nrrd_header uint8 "8 8 8"; zeros 512; } >"$M/labelsTr/bad01.nrrd"; RUN=(verify -d 910) ;;
    13) K="MHA with too little voxel data"; C=verify; T="bad01_0000.mha"; mini .mha
       { mha_header MET_FLOAT "8 8 8" LOCAL; zeros 100; } >"$M/imagesTr/bad01_0000.mha"
       { mha_header MET_UCHAR "8 8 8" LOCAL; zeros 512; } >"$M/labelsTr/bad01.mha"; RUN=(verify -d 910) ;;
    14) K="MHA without DimSize"; C=verify; T="bad01_0000.mha;DimSize"; mini .mha
       { mha_header MET_FLOAT "8 8 8" LOCAL | grep -v DimSize; zeros 2048; } >"$M/imagesTr/bad01_0000.mha"
       { mha_header MET_UCHAR "8 8 8" LOCAL; zeros 512; } >"$M/labelsTr/bad01.mha"; RUN=(verify -d 910) ;;
    15) K="MHD whose data file is missing"; C=verify; T="bad01_0000.raw"; mini .mhd
       mha_header MET_FLOAT "8 8 8" bad01_0000.raw >"$M/imagesTr/bad01_0000.mhd"
       mha_header MET_UCHAR "8 8 8" bad01.raw >"$M/labelsTr/bad01.mhd"; zeros 512 >"$M/labelsTr/bad01.raw"
       RUN=(verify -d 910) ;;
    16) K="MHA with an unknown ElementType"; C=verify; T="bad01_0000.mha;MET_BOGUS"; mini .mha
       { mha_header MET_BOGUS "8 8 8" LOCAL; zeros 2048; } >"$M/imagesTr/bad01_0000.mha"
       { mha_header MET_UCHAR "8 8 8" LOCAL; zeros 512; } >"$M/labelsTr/bad01.mha"; RUN=(verify -d 910) ;;
    17) K="truncated GIPL"; C=verify; T="bad01_0000.gipl"; mini .gipl
       zeros 100 >"$M/imagesTr/bad01_0000.gipl"; zeros 100 >"$M/labelsTr/bad01.gipl"; RUN=(verify -d 910) ;;
    18) K="truncated TIFF"; C=verify; T="bad01_0000.tif"; mini .tif
       printf "II*\x00\x08\x00\x00\x00\x0b\x00\x00\x01" >"$M/imagesTr/bad01_0000.tif"
       printf "II*\x00\x08\x00" >"$M/labelsTr/bad01.tif"; T=bad01; RUN=(verify -d 910) ;;
    19) K="a text file named .tif"; C=fingerprint; T="bad01_0000.tif"; mini .tif
       echo "not a tiff" >"$M/imagesTr/bad01_0000.tif"
       printf "II*\x00" >"$M/labelsTr/bad01.tif"; T=bad01; RUN=(fingerprint -d 910) ;;
    20) K="MHA header declaring 100000³ voxels"; C=fingerprint; T="bad01_0000.mha;NNUNET_MAX_VOXELS"
       mini .mha; { mha_header MET_FLOAT "100000 100000 100000" LOCAL; zeros 100; } >"$M/imagesTr/bad01_0000.mha"
       { mha_header MET_UCHAR "8 8 8" LOCAL; zeros 512; } >"$M/labelsTr/bad01.mha"; RUN=(fingerprint -d 910) ;;
    # -- image contents and geometry --
    21) K="label of another shape than its image"; C=verify; T="phantom_001"
       png 64 64 0 0 >"$D2/labelsTr/phantom_001.png"; RUN=(verify -d 901) ;;
    22) K="label of another shape than its image"; C=plan-and-preprocess; T="phantom_001"
       png 64 64 0 0 >"$D2/labelsTr/phantom_001.png"; rm -rf "$W/pre"/*
       RUN=(plan-and-preprocess -d 901 -c 2d) ;;
    23) K="label spacing differs from its image"; C=verify; T="phantom_000"
       f=$D3/labelsTr/phantom_000.nii.gz; gunzip -c "$f" >"$W/l.nii"
       set_float "$W/l.nii" 80 '\x00\x00\x40\x40'; gzip -c "$W/l.nii" >"$f"; RUN=(verify -d 900) ;;
    24) K="label value not in dataset.json"; C=verify; T="phantom_00;2"
       jqi "$D2/dataset.json" 'del(.labels.lesion)'; RUN=(verify -d 901) ;;
    25) K="RGB PNG where 1 channel is declared"; C=verify; T="phantom_000_0000.png"
       f=$D2/imagesTr/phantom_000_0000.png; png $(pngsize "$f") 2 100 >"$W/rgb.png"
       cp "$W/rgb.png" "$f"; RUN=(verify -d 901) ;;
    26) K="extra channel file not declared"; C=verify; T="phantom_000_0001.png"
       cp "$D2/imagesTr/phantom_000_0000.png" "$D2/imagesTr/phantom_000_0001.png"; RUN=(verify -d 901) ;;
    27) K="image without its label"; C=verify; T="phantom_002"
       rm "$D2/labelsTr/phantom_002.png"; RUN=(verify -d 901) ;;
    28) K="label without its image"; C=fingerprint; T="phantom_002.png"; MODE=warn
       rm "$D2/imagesTr/phantom_002_0000.png"; RUN=(fingerprint -d 901 --clean) ;;
    29) K="image named without _0000"; C=verify; T="phantom_000.png"
       mv "$D2/imagesTr/phantom_000_0000.png" "$D2/imagesTr/phantom_000.png"; RUN=(verify -d 901) ;;
    30) K="NaN voxels"; C=fingerprint; T="phantom_000;NaN"
       f=$D3/imagesTr/phantom_000_0000.nii.gz; gunzip -c "$f" >"$W/i.nii"
       set_float "$W/i.nii" 1000 '\x00\x00\xc0\x7f'; gzip -c "$W/i.nii" >"$f"; RUN=(fingerprint -d 900) ;;
    # -- dataset.json and the dataset folders --
    31) K="numTraining larger than the cases"; C=verify; T="numTraining"
       jqi "$D2/dataset.json" '.numTraining = 99'; RUN=(verify -d 901) ;;
    32) K="dataset.json missing"; C=verify; T="dataset.json"
       rm "$D2/dataset.json"; RUN=(verify -d 901) ;;
    33) K="dataset.json cut short"; C=plan-and-preprocess; T="dataset.json"
       truncate -s 40 "$D2/dataset.json"; rm -rf "$W/pre"/*; RUN=(plan-and-preprocess -d 901 -c 2d) ;;
    34) K="labels without background"; C=verify; T="background"
       jqi "$D2/dataset.json" 'del(.labels.background)'; RUN=(verify -d 901) ;;
    35) K="channel_names missing"; C=fingerprint; T="channel_names"
       jqi "$D2/dataset.json" 'del(.channel_names)'; RUN=(fingerprint -d 901 --clean) ;;
    36) K="unsupported file_ending"; C=verify; T=".jpg2"
       jqi "$D2/dataset.json" '.file_ending = ".jpg2"'; RUN=(verify -d 901) ;;
    37) K="a label value that is a string"; C=verify; T="lesion"
       jqi "$D2/dataset.json" '.labels.lesion = "two"'; RUN=(verify -d 901) ;;
    38) K="regions without regions_class_order"; C=verify; T="regions_class_order"
       jqi "$D2/dataset.json" '.labels.organ = [1, 2]'; RUN=(verify -d 901) ;;
    39) K="unknown dataset id"; C=verify; T="999"; RUN=(verify -d 999) ;;
    40) K="two raw folders with one id"; C=fingerprint; T="Dataset901_Other"
       cp -r "$D2" "$W/raw/Dataset901_Other"; RUN=(fingerprint -d 901) ;;
    41) K="nnUNet_raw not set"; C=verify; T="nnUNet_raw"; ENVX=(-u nnUNet_raw); RUN=(verify -d 901) ;;
    42) K="nnUNet_raw pointing nowhere"; C=verify; T="no_such_raw"
       ENVX=("nnUNet_raw=$W/no_such_raw"); RUN=(verify -d 901) ;;
    43) K="negative numTraining"; C=verify; T="numTraining"
       jqi "$D2/dataset.json" '.numTraining = -1'; RUN=(verify -d 901) ;;
    # -- plans, fingerprint, preprocessing --
    44) K="plans.json cut short"; C=preprocess; T="nnUNetPlans.json"
       truncate -s 50 "$P2/nnUNetPlans.json"; RUN=(preprocess -d 901 -c 2d) ;;
    45) K="a configuration the plans lack"; C=preprocess; T="3d_fullres"; RUN=(preprocess -d 901 -c 3d_fullres) ;;
    46) K="preprocess before plan"; C=preprocess; T="nnUNetPlans.json"
       rm "$P2/nnUNetPlans.json"; RUN=(preprocess -d 901 -c 2d) ;;
    47) K="plans patch_size of the wrong type"; C=train; T="patch_size"
       jqi "$P2/nnUNetPlans.json" '.configurations["2d"].patch_size = ["a", "b"]'; RUN=("${TR[@]}" -f 1) ;;
    48) K="plans batch_size 0"; C=train; T="batch_size"
       jqi "$P2/nnUNetPlans.json" '.configurations["2d"].batch_size = 0'; RUN=("${TR[@]}" -f 1)
       O=$MODEL/fold_1 ;;
    49) K="unknown planner"; C=plan; T="nosuch"; RUN=(plan -d 901 --planner nosuch) ;;
    50) K="negative --gpu-memory-gb"; C=plan; T="gpu"; RUN=(plan -d 901 --gpu-memory-gb -4) ;;
    51) K="fingerprint cut short"; C=plan; T="dataset_fingerprint.json"
       truncate -s 30 "$P2/dataset_fingerprint.json"; RUN=(plan -d 901) ;;
    52) K="preprocessed .b2nd/.seg cut short"; C=train; T="phantom_00"
       for f in "$P2"/nnUNetPlans_2d/*; do case $f in *.json|*.pkl) ;; *) truncate -s 10 "$f" ;; esac; done
       RUN=("${TR[@]}" -f 1); O=$MODEL/fold_1 ;;
    53) K="train before preprocess"; C=train; T="nnUNetPlans_2d"
       rm -rf "$P2/nnUNetPlans_2d"; RUN=("${TR[@]}" -f 1); O=$MODEL/fold_1 ;;
    # -- splits and folds --
    54) K="splits_final.json naming an unknown case"; C=train; T="phantom_999"
       jqi "$P2/splits_final.json" '.[1].train += ["phantom_999"]'; RUN=("${TR[@]}" -f 1); O=$MODEL/fold_1 ;;
    55) K="splits_final.json cut short"; C=train; T="splits_final.json"
       truncate -s 20 "$P2/splits_final.json"; RUN=("${TR[@]}" -f 1); O=$MODEL/fold_1 ;;
    56) K="fold out of range"; C=train; T="7"; RUN=("${TR[@]}" -f 7); O=$MODEL/fold_7 ;;
    57) K="negative fold"; C=train; T="-1"; RUN=("${TR[@]}" -f -1) ;;
    # -- training options --
    58) K="unknown network"; C=train; T="nosuch"; RUN=("${TR[@]}" -f 1 --network nosuch); O=$MODEL/fold_1 ;;
    59) K="unknown loss"; C=train; T="nosuch"; RUN=("${TR[@]}" -f 1 --loss nosuch); O=$MODEL/fold_1 ;;
    60) K="unknown trainer"; C=train; T="nosuch"; RUN=("${TR[@]}" -f 1 --trainer nosuch) ;;
    61) K="unknown --device"; C=train; T="bogus"; RUN=("${TR0[@]}" -f 1 --device bogus) ;;
    62) K="--device cuda without a GPU"; C=train; T="cuda"; RUN=("${TR0[@]}" -f 1 --device cuda)
       O=$MODEL/fold_1 ;;
    63) K="--network-options not JSON"; C=train; T="network"; RUN=("${TR[@]}" -f 1 --network-options '{bad')
       O=$MODEL/fold_1 ;;
    64) K="unknown trainer option"; C=train; T="nosuch"
       RUN=("${TR[@]}" -f 1 --trainer-options '{"nosuch": 1}'); O=$MODEL/fold_1 ;;
    65) K="--pretrained file missing"; C=train; T="missing.json"
       RUN=("${TR[@]}" -f 1 --pretrained "$W/missing.json"); O=$MODEL/fold_1 ;;
    # -- predict --
    66) K="--num-parts 0"; C=predict; T="num-parts"; RUN=("${PR[@]}" -o "$W/out" --num-parts 0); O=$W/out ;;
    67) K="--part-id >= --num-parts"; C=predict; T="part"; RUN=("${PR[@]}" -o "$W/out" --num-parts 2 --part-id 2)
       O=$W/out ;;
    68) K="unknown configuration"; C=predict; T="nosuch"
       RUN=(predict -i "$D2/imagesTs" -o "$W/out" -d 901 -c nosuch -f 0 --device cpu); O=$W/out ;;
    69) K="a fold that was not trained"; C=predict; T="fold_3"
       RUN=(predict -i "$D2/imagesTs" -o "$W/out" -d 901 -c 2d -f 3 --device cpu); O=$W/out ;;
    70) K="unknown --checkpoint"; C=predict; T="nosuch"; RUN=("${PR[@]}" -o "$W/out" --checkpoint nosuch); O=$W/out ;;
    71) K="unknown --device"; C=predict; T="bogus"; RUN=("${PR0[@]}" -o "$W/out" --device bogus); O=$W/out ;;
    72) K="output folder = input folder"; C=predict; T="imagesTs"
       RUN=("${PR[@]}" -o "$D2/imagesTs"); O=$D2/imagesTs ;;
    73) K="output under a regular file"; C=predict; T="afile"
       echo x >"$W/afile"; RUN=("${PR[@]}" -o "$W/afile/out") ;;
    74) K="empty input folder"; C=predict; T="empty_in"
       mkdir "$W/empty_in"; RUN=(predict -i "$W/empty_in" -o "$W/out" -d 901 -c 2d -f 0 --device cpu); O=$W/out ;;
    75) K="input images of another format"; C=predict; T="in3d"
       cp -r "$D3/imagesTs" "$W/in3d"; RUN=(predict -i "$W/in3d" -o "$W/out" -d 901 -c 2d -f 0 --device cpu)
       O=$W/out ;;
    76) K="RGB input for a 1-channel model"; C=predict; T="phantom_005_0000.png"
       f=$(ls "$D2"/imagesTs/*_0000.png | head -1); png $(pngsize "$f") 2 100 >"$W/rgb.png"
       cp "$W/rgb.png" "$f"; T=$(basename "$f"); RUN=("${PR[@]}" -o "$W/out"); O=$W/out ;;
    77) K="checkpoint cut short"; C=predict; T="checkpoint_final"
       for f in "$MODEL"/fold_0/checkpoint_final*; do truncate -s 100 "$f"; done
       RUN=("${PR[@]}" -o "$W/out"); O=$W/out ;;
    78) K="-m folder missing"; C="predict -m"; T="no_model"
       RUN=(predict -i "$D2/imagesTs" -o "$W/out" -m "$W/no_model" -f 0 --device cpu); O=$W/out ;;
    79) K="nnU-Net model folder without plans.json"; C="predict -m"; T="plans.json"
       rm "$W/nnunet_model/plans.json"; RUN=(predict -i "$D2/imagesTs" -o "$W/out" -m "$W/nnunet_model" -c 2d -f 0 --device cpu)
       O=$W/out ;;
    80) K="nnU-Net .pth cut short"; C="predict -m"; T="checkpoint_final.pth"
       truncate -s 300 "$W/nnunet_model/fold_0/checkpoint_final.pth"
       RUN=(predict -i "$D2/imagesTs" -o "$W/out" -m "$W/nnunet_model" -c 2d -f 0 --device cpu); O=$W/out ;;
    81) K="--postprocess file missing"; C=predict; T="missing_pp.json"
       RUN=("${PR[@]}" -o "$W/out" --postprocess "$W/missing_pp.json"); O=$W/out ;;
    # -- evaluate, ensemble, postprocess, find-best, overlay, report --
    82) K="prediction folder missing"; C=evaluate; T="no_pred"
       RUN=(evaluate "$D2/labelsTs" "$W/no_pred" -d 901) ;;
    83) K="a prediction of another shape"; C=evaluate; T="phantom_00"
       cp -r "$W/pred" "$W/p2"; for f in "$W"/p2/*.png; do png 64 64 0 0 >"$f"; done
       RUN=(evaluate "$D2/labelsTs" "$W/p2" -d 901 -o "$W/ev/summary.json"); O=$W/ev ;;
    84) K="an input without probabilities"; C=ensemble; T="p2"
       cp -r "$W/pred" "$W/p2"; rm -f "$W"/p2/*.npz; RUN=(ensemble -i "$W/pred" "$W/p2" -o "$W/ens" -d 901)
       O=$W/ens ;;
    85) K="inputs with different cases"; C=ensemble; T="phantom_00"
       cp -r "$W/pred" "$W/p2"; f=$(ls "$W"/p2/*.npz | head -1); rm "$f"
       RUN=(ensemble -i "$W/pred" "$W/p2" -o "$W/ens" -d 901); O=$W/ens ;;
    86) K="a fold without validation"; C="postprocess determine"; T="fold_1"
       RUN=(postprocess determine -d 901 -c 2d -f 0 1) ;;
    87) K="--pp-file not JSON"; C="postprocess apply"; T="pp.json"
       echo "{oops" >"$W/pp.json"; RUN=(postprocess apply -i "$W/pred" -o "$W/pp_out" --pp-file "$W/pp.json")
       O=$W/pp_out ;;
    88) K="unknown configuration"; C=find-best; T="nosuch"; RUN=(find-best -d 901 -c nosuch -f 0) ;;
    89) K="prediction of another shape"; C=overlay; T="phantom_00"
       cp -r "$W/pred" "$W/p2"; for f in "$W"/p2/*.png; do png 64 64 0 0 >"$f"; done
       RUN=(overlay -i "$D2/imagesTs" -p "$W/p2" -o "$W/ov" -d 901); O=$W/ov ;;
    90) K="empty reference folder"; C=report; T="empty_gt"
       mkdir "$W/empty_gt"; RUN=(report -g "$W/empty_gt" -p "$W/pred" -o "$W/rep" -d 901); O=$W/rep ;;
    # -- convert --
    91) K="MSD task without dataset.json"; C="convert msd"; T="dataset.json"
       mkdir -p "$W/Task05_X/imagesTr" "$W/Task05_X/labelsTr"; RUN=(convert msd "$W/Task05_X") ;;
    92) K="--structure without NAME="; C="convert masks"; T="structure"
       RUN=(convert masks "$D2" --id 950 --name M --images 'imagesTr/{case}_0000.png' --structure 'labelsTr/{case}.png') ;;
    93) K="masks source missing"; C="convert masks"; T="no_src"
       RUN=(convert masks "$W/no_src" --id 950 --name M --images '{case}.png' --structure 'a={case}_m.png') ;;
    94) K="a folder of non-DICOM files"; C="convert dicom"; T="notdicom"
       mkdir -p "$W/notdicom/case1"; echo hi >"$W/notdicom/case1/a.dcm"
       RUN=(convert dicom "$W/notdicom" "$W/dcm_out"); O=$W/dcm_out ;;
    95) K="--enlarge 0"; C="convert roi"; T="enlarge"
       RUN=(convert roi -i "$D2" -o "$W/raw/Dataset952_Roi" --enlarge 0); O=$W/raw/Dataset952_Roi ;;
    96) K="a 2D dataset"; C="convert mip"; T="Dataset901_Phantom2D"
       RUN=(convert mip "$D2" --id 953 --name Mip); O=$W/raw/Dataset953_Mip ;;
    # -- TOML files --
    97) K="unknown key"; C=run; T="epochz"
       printf 'dataset = "901"\nconfiguration = "2d"\nfolds = [1]\ndevice = "cpu"\n[training]\nepochz = 1\n' >"$W/e.toml"
       RUN=(run "$W/e.toml"); O=$MODEL/fold_1 ;;
    98) K="wrong type"; C=run; T="epochs"
       printf 'dataset = "901"\nconfiguration = "2d"\nfolds = [1]\ndevice = "cpu"\n[training]\nepochs = "ten"\n' >"$W/e.toml"
       RUN=(run "$W/e.toml"); O=$MODEL/fold_1 ;;
    99) K="TOML syntax error"; C=run; T="e.toml"
       printf 'dataset = "901\n' >"$W/e.toml"; RUN=(run "$W/e.toml") ;;
    100) K="unknown key"; C=compare; T="netwroks"
       printf 'dataset = "901"\nconfiguration = "2d"\n[[netwroks]]\nlabel = "plain"\n' >"$W/c.toml"
       RUN=(compare "$W/c.toml") ;;
    101) K="no networks"; C=compare; T="networks"
       printf 'dataset = "901"\nconfiguration = "2d"\n' >"$W/c.toml"; RUN=(compare "$W/c.toml") ;;
    102) K="unknown key"; C="slurm submit"; T="cpus_per_tsk"
       printf 'dataset = "901"\nconfigurations = ["2d"]\n[slurm]\ncpus_per_tsk = 1\n' >"$W/s.toml"
       RUN=(slurm submit "$W/s.toml") ;;
    # -- plugins --
    103) K="--plugin file missing"; C="plugins list"; T="missing.so"; RUN=(plugins list --plugin "$W/missing.so") ;;
    104) K="--plugin a text file"; C="plugins list"; T="fake.so"
       echo "not elf" >"$W/fake.so"; RUN=(plugins list --plugin "$W/fake.so") ;;
    105) K="invalid crate name"; C="plugin new"; T="1bad"; RUN=(plugin new 1bad --kind loss --dir "$W") ;;
    # -- summary, model import/export/zip --
    106) K="unknown configuration"; C=summary; T="nosuch"; RUN=(summary -d 901 -c nosuch) ;;
    107) K="--plans not JSON"; C=summary; T="bad.json"
       echo "{" >"$W/bad.json"; RUN=(summary --plans "$W/bad.json" -c 2d) ;;
    108) K="input folder missing"; C=import-nnunet; T="no_such"
       RUN=(import-nnunet -i "$W/no_such" -o "$W/imp"); O=$W/imp ;;
    109) K=".pth cut short"; C=import-nnunet; T="checkpoint_final.pth"
       truncate -s 300 "$W/nnunet_model/fold_0/checkpoint_final.pth"
       RUN=(import-nnunet -i "$W/nnunet_model" -o "$W/imp"); O=$W/imp ;;
    110) K="not a model folder"; C=export-nnunet; T="notmodel"
       mkdir "$W/notmodel"; RUN=(export-nnunet -i "$W/notmodel" -o "$W/exp"); O=$W/exp ;;
    111) K="model zip without plans"; C=install-model-zip; T="plans.json"
       (cd "$W/nnunet_model" && rm plans.json && mkdir -p ../z/Dataset901_Phantom2D && cp -r . ../z/Dataset901_Phantom2D/nnUNetTrainer__nnUNetPlans__2d && cd ../z && zip -qr ../m.zip .)
       RUN=(install-model-zip "$W/m.zip" --results "$W/inst"); O=$W/inst ;;
    112) K="a text file named .zip"; C=install-model-zip; T="m.zip"
       echo hi >"$W/m.zip"; RUN=(install-model-zip "$W/m.zip" --results "$W/inst"); O=$W/inst ;;
    esac
}

# The kinds that count (90 of the 112 defined; the others repeat one of them closely and stay
# for reruns by number).
SKIP=" 7 10 14 16 19 20 22 31 36 43 46 53 57 61 63 67 70 93 99 101 103 108 "
ALL=()
for i in $(seq 1 112); do [[ $SKIP == *" $i "* ]] || ALL+=("$i"); done

classify() { # sets OUTCOME and WHY from $RC, $OUTF, the tokens, the output path
    local text; text=$(cat "$OUTF")
    OUTCOME=clear; WHY=""
    if [ "$RC" -eq 124 ]; then OUTCOME=bad; WHY="timed out"; return; fi
    if [ "$RC" -gt 128 ]; then OUTCOME=bad; WHY="killed by signal $((RC - 128))"; return; fi
    if grep -q 'panicked\|RUST_BACKTRACE' "$OUTF"; then OUTCOME=bad; WHY="panicked"; return; fi
    if [ "$RC" -eq 0 ]; then
        if [ "${MODE:-}" = warn ] && grep -qiw "warn\|warning" "$OUTF"; then :; else
            OUTCOME=bad; WHY="exit 0"; return
        fi
    fi
    local tok missing=()
    IFS=';' read -ra toks <<<"$T"
    for tok in "${toks[@]}"; do
        grep -qF -- "$tok" "$OUTF" || missing+=("$tok")
    done
    [ ${#missing[@]} -eq 0 ] || { OUTCOME=weak; WHY="names no ${missing[*]}"; }
    if [ -n "${O:-}" ] && [ -e "$O" ]; then
        local added; added=$(comm -13 "$W.before" <(find "$O" | sort) | head -3 | tr '\n' ' ')
        [ -z "$added" ] || { OUTCOME=weak; WHY="${WHY:+$WHY; }left ${added//$W/…}"; }
    fi
    local temps; temps=$(find "$W" \( -name '*~tmp-*' -o -name '*.tmp' \) | head -2 | tr '\n' ' ')
    [ -z "$temps" ] || { OUTCOME=weak; WHY="${WHY:+$WHY; }temporary ${temps//$W/…}"; }
}

build_base
[ ${#ONLY[@]} -gt 0 ] && ALL=("${ONLY[@]}")
declare -A TOTAL=([clear]=0 [weak]=0 [bad]=0)
n=0
for i in "${ALL[@]}"; do
    W=$TMP/k$i
    rm -rf "$W"
    cp -a "$BASE" "$W"
    benv "$W"
    K="" C="" T="" O="" MODE="" ENVX=() RUN=()
    kinds "$i" >"$W.setup" 2>&1
    if [ -n "${O:-}" ] && [ -e "$O" ]; then find "$O" | sort >"$W.before"; else : >"$W.before"; fi
    OUTF=$W.out
    (cd "$W" && timeout 300 env "${ENVX[@]}" "$BIN" "${RUN[@]}") >"$OUTF" 2>&1
    RC=$?
    sed -i "s/\x1b\[[0-9;]*m//g" "$OUTF" # the log's colours
    classify
    n=$((n + 1))
    TOTAL[$OUTCOME]=$((TOTAL[$OUTCOME] + 1))
    msg=$(grep -m1 -E '^(error|warning)| WARN ' "$OUTF" || tail -n1 "$OUTF")
    msg=${msg//$W/…}; msg=${msg//|/\\|}; msg=${msg:0:220}
    printf '| %s | %s | `%s` | **%s**%s | %s |\n' "$i" "$K" "$C" "$OUTCOME" "${WHY:+ ($WHY)}" \
        "\`${msg//\`/\'}\` (exit $RC)" >>"$ROWS"
    printf '%3s %-6s %-22s %s%s\n' "$i" "$OUTCOME" "$C" "$K" "${WHY:+  [$WHY]}" >&2
    [ "$OUTCOME" = clear ] || sed 's/^/      /' "$OUTF" | head -5 >&2
    rm -rf "$W"
done
SUMMARY="$n kinds: ${TOTAL[clear]} clear, ${TOTAL[weak]} weak, ${TOTAL[bad]} bad"
echo "$SUMMARY"

if [ "$WRITE_DOCS" = 1 ]; then
    DOC=$REPO/docs/reliability.md
    {
        echo "<!-- trial:start (written by scripts/bad_input_trial.sh --write-docs) -->"
        echo "**$SUMMARY** ($(date -u +%Y-%m-%d), \`scripts/bad_input_trial.sh --write-docs\`)."
        echo
        echo "| # | bad input | command | outcome | message (first line; \`…\` = the trial's folder) |"
        echo "|---|---|---|---|---|"
        cat "$ROWS"
        echo "<!-- trial:end -->"
    } >"$TMP/table.md"
    awk -v table="$TMP/table.md" '
        /<!-- trial:start/ { while ((getline line < table) > 0) print line; skip = 1; next }
        /<!-- trial:end -->/ { skip = 0; next }
        !skip { print }' "$DOC" >"$TMP/doc.md" && cp "$TMP/doc.md" "$DOC"
fi
