source .carry/dev/env.sh
# the GGUF's parts this call carries: .carry/b (ab) or .carry/a2 (aab, abb: call it twice, see call3.sh); made by
# scripts/gpu/prepare_carry.sh
for f in .carry/b/gpart_* .carry/a2/gpart_*; do [ -f "$f" ] && cp "$f" /tmp/gg/; done
echo "call2 ok $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
