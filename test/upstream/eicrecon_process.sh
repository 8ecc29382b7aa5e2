#!/bin/bash
# The reconstruction wrapper the upstream-like transformer fills in and runs for a slice that is not
# fake/mock, as upstream's wrapper/eicrecon_process.sh does: eicrecon on the slice's events inside the
# EIC container. Where singularity (or the container, or eicrecon) is missing, it fails: with set -e a
# command that is not found ends the script with code 127.
#
# Filled in by the transformer: {EPIC_VERSION} {INPUT_FILE} {OUTPUT_FILE} {NSKIP} {NEVENTS}
set -e

image="/cvmfs/singularity.opensciencegrid.org/eicweb/eic_xl:{EPIC_VERSION}-stable"

singularity exec "$image" /bin/bash -c "
set -e
source /opt/detector/epic-{EPIC_VERSION}/bin/thisepic.sh
eicrecon {INPUT_FILE} -Ppodio:output_file={OUTPUT_FILE} -Pjana:nevents={NEVENTS} -Pjana:nskip={NSKIP} -Pjana:timeout=0
"
