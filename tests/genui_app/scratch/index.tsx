// The component test_genui.py breaks and mends.
export default { hello: () => <p>hello</p> };
