// Progressive enhancement: a Copy button on install lines. Everything works without it.
// The button sits in a wrapper beside the line, so it stays put when a long line scrolls sideways.
document.querySelectorAll("pre.copyable").forEach(function (block) {
  if (!navigator.clipboard) { return; }
  var wrap = document.createElement("div");
  wrap.className = "copy-wrap";
  block.parentNode.insertBefore(wrap, block);
  wrap.appendChild(block);
  var button = document.createElement("button");
  button.type = "button";
  button.className = "copy-button";
  button.textContent = "Copy";
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(block.innerText).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });
  wrap.appendChild(button);
});
